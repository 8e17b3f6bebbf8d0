"""The one decision every contact must pass: may this lead be contacted on this channel now?

`decide` answers for one lead; `decide_many` answers for many, reading what it needs in a few
queries per chunk. Both gather the facts first (`GateFacts`) and then apply the rules in
`_evaluate`, which reads nothing from the database, so the two can never disagree.
"""

import datetime
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from compliance.hours import HoursCheck, hours_check
from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    ContactDecision,
    DncListKind,
    DncListStatus,
    Purpose,
    Suppression,
)
from compliance.reasons import Reason, ReasonCode
from compliance.rules import AttemptCap, attempt_caps_for
from crm.collector import cycle_collection_paused
from leads.choices import Channel, USState
from leads.models import ContactAttempt, Lead
from leads.models.attempt import Direction, Disposition
from leads.normalize import area_code_places, place_tables, zip_location

# 16 CFR 310.4(b)(3)(iv): calls must be scrubbed against a registry copy at most 31 days old.
REGISTRY_MAX_AGE = datetime.timedelta(days=31)
# 47 CFR 64.1200(f)(5): an established business relationship lets a seller call a number on
# the registry for 18 months after a purchase and 3 months after an inquiry, until the
# person asks not to be called.
EBR_AFTER_PURCHASE = datetime.timedelta(days=548)
EBR_AFTER_INQUIRY = datetime.timedelta(days=91)
CHUNK = 1000
# Choices' .values builds a new list on every access.
CHANNELS = frozenset(Channel.values)
STATES = frozenset(USState.values)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: list[Reason]
    next_allowed_at: datetime.datetime | None

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """What the rules read of a consent record, without building the model."""

    pk: int
    lead_id: int
    channels: tuple[str, ...]
    seller_names: tuple[str, ...]
    disclosure_text: str
    captured_at: datetime.datetime | None
    capture_method: str
    revoked_at: datetime.datetime | None


@dataclass
class GateFacts:
    """Everything the rules need to know about one lead, read in advance."""

    lead: Lead
    zones: set[str]
    states: set[str]
    suppressions: list[Suppression] = field(default_factory=list)
    consents: list[ConsentRecord | ConsentFacts] = field(default_factory=list)
    dnc_lists: list[tuple[str, str]] = field(default_factory=list)  # (kind, state)
    last_purchase_at: datetime.datetime | None = None
    # (started_at, channel, product) of outbound marketing attempts to this phone.
    attempts: list[tuple[datetime.datetime, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Registry:
    """The state of the national registry copy at decision time."""

    list_date: datetime.date | None

    def is_fresh(self, at: datetime.datetime) -> bool:
        return self.list_date is not None and at.date() - self.list_date <= REGISTRY_MAX_AGE


def _phone_text(phone: PhoneNumber | str | None) -> str:
    """Return `str(phone)`, or "" for no number, without re-validating a stored number.

    str() checks a PhoneNumber against the numbering plan on every call, which costs more than
    the rest of a decision. A number whose raw input is its own E.164 form, as every stored
    one is, prints as that form whether it is valid or not, so the check can be skipped.
    """
    if isinstance(phone, PhoneNumber):
        raw = phone.raw_input
        if raw and raw[0] == "+" and raw[1:].isdigit():
            return raw
    return str(phone) if phone else ""


def candidate_places(lead: Lead) -> tuple[set[str], set[str]]:
    """Return every zone and state the lead may be in: ZIP, stated address and area code."""
    phone = _phone_text(lead.phone)
    zones, states = _places(
        lead.time_zone,
        tuple(lead.area_code_time_zones or ()),
        lead.zip_code,
        lead.state,
        phone[2:5] if phone else "",
    )
    return set(zones), set(states)


@lru_cache(maxsize=8192)  # leads share ZIPs, states and area codes
def _places(
    time_zone: str, area_code_zones: tuple[str, ...], zip_code: str, state: str, area_code: str
) -> tuple[frozenset[str], frozenset[str]]:
    zones = {zone for zone in [time_zone, *area_code_zones] if zone}
    states = {state} if state else set()
    location = zip_location(zip_code) if zip_code else None
    if location:
        zones.add(location.time_zone)
        states.add(location.state)
    if state and (location is None or location.state != state):
        zones.update(place_tables().state_zones.get(state, ()))
    if area_code:
        area_zones, area_states = area_code_places(area_code)
        zones.update(area_zones)
        states.update(area_states)  # a Florida area code counts as Florida
    return frozenset(zones), frozenset(states)


@lru_cache(maxsize=4096)  # consents repeat the same channel and seller lists
def _json_list(text: str) -> tuple:
    return tuple(json.loads(text))


def decide(
    lead: Lead,
    channel: str,
    at: datetime.datetime,
    *,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
) -> Decision:
    """Decide whether this lead may be contacted on this channel at this instant."""
    facts, registry = _facts_for([lead], since=at - _longest_cap_window(), with_registry=True)
    return _evaluate(facts[lead.pk], channel, at, purpose, automated, registry)


def decide_many(
    requests: Iterable[tuple[Lead, str, datetime.datetime]],
    *,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
) -> list[Decision]:
    """Decide for many (lead, channel, instant) requests at once, in order."""
    requests = list(requests)
    chunks = [requests[start : start + CHUNK] for start in range(0, len(requests), CHUNK)]
    registry = _registry()
    decisions: list[Decision] = []
    with cycle_collection_paused(), _reads_pipelined():
        asked = _chunk_facts_ask(chunks[0]) if chunks else None
        for number, chunk in enumerate(chunks):
            facts, _ = asked.read()
            # The next chunk's facts are asked for now: PostgreSQL reads them while this
            # chunk is decided.
            if number + 1 < len(chunks):
                asked = _chunk_facts_ask(chunks[number + 1])
            decisions.extend(
                _evaluate(facts[lead.pk], channel, at, purpose, automated, registry)
                for lead, channel, at in chunk
            )
    return decisions


@contextmanager
def _reads_pipelined():
    """On PostgreSQL, let reads be sent before the answers to earlier ones are read."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _chunk_facts_ask(chunk: list[tuple[Lead, str, datetime.datetime]]) -> "AskedFacts":
    since = min(at for _, _, at in chunk) - _longest_cap_window()
    return _facts_ask([lead for lead, _, _ in chunk], since=since)


@cache  # the caps' windows are rules in code; only the default cap's limit is a setting
def _longest_cap_window() -> datetime.timedelta:
    return max(cap.window for cap in attempt_caps_for(STATES))


# The reads behind every decision, as SQL on one cursor: through the ORM, building a query and
# its rows cost more than running it, and each phone number passed in was validated again.
# Suppressions and consents get only the fields the rules read; the others stay deferred.
NEWEST_REGISTRY_SQL = """
    SELECT list_date FROM compliance_dnclist WHERE kind = %s AND status = %s
    ORDER BY list_date DESC LIMIT 1
"""
SUPPRESSION_FIELDS = ["id", "phone", "email", "origin", "received_at"]
SUPPRESSIONS_SQL = """
    SELECT id, phone, email, origin, received_at FROM compliance_suppression
    WHERE {phone_in} OR {email_in} ORDER BY received_at DESC
"""
CONSENTS_SQL = """
    SELECT id, lead_id, CAST(channels AS text), CAST(seller_names AS text), disclosure_text,
        captured_at, capture_method, revoked_at
    FROM compliance_consentrecord WHERE {lead_in}
"""
LISTED_SQL = """
    SELECT dnc_number.phone, dnc_list.kind, dnc_list.state
    FROM compliance_dncnumber dnc_number
    JOIN compliance_dnclist dnc_list ON dnc_list.id = dnc_number.dnc_list_id
    WHERE {phone_in} AND dnc_list.status = %s
"""
# Sales of any age (the business relationship), and every attempt since the cap windows open.
OUTBOUND_SQL = """
    SELECT lead.phone, attempt.started_at, attempt.channel, lead.product, attempt.disposition
    FROM leads_contactattempt attempt JOIN leads_lead lead ON lead.id = attempt.lead_id
    WHERE {phone_in} AND attempt.direction = %s
        AND (attempt.started_at > %s OR attempt.disposition = %s)
"""


def _in_list(column: str, values: Sequence) -> tuple[str, list]:
    """Return SQL that tests whether `column` is one of `values`, and its parameters.

    PostgreSQL takes many values as one array: building a query with a parameter per value
    costs the client more than running it (and an array, more than one plain value). An empty
    IN list, written NULL, matches nothing.
    """
    if len(values) == 1:
        return f"{column} = %s", list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", list(values)


def _instant_read(moment: datetime.datetime | None) -> datetime.datetime | None:
    """Return an instant read with SQL as the ORM would: aware (SQLite stores it without zone)."""
    if moment is None or moment.tzinfo is not None:  # PostgreSQL's are aware already
        return moment
    return timezone.make_aware(moment, connection.timezone)


REGISTRY_QUERY = (NEWEST_REGISTRY_SQL, [DncListKind.NATIONAL, DncListStatus.READY])


def _registry() -> Registry:
    [rows] = _rows_of([REGISTRY_QUERY])
    return _registry_from(rows)


def _registry_from(rows: list[tuple]) -> Registry:
    return Registry(list_date=rows[0][0] if rows else None)


def _rows_of(queries: list[tuple[str, list]]) -> list[list[tuple]]:
    """Run the queries and return each one's rows; on PostgreSQL, in one round trip."""
    with _reads_pipelined():
        return _rows_send(queries)()


def _rows_send(queries: list[tuple[str, list]]) -> Callable[[], list[list[tuple]]]:
    """Send the queries; return a function that returns each one's rows.

    On PostgreSQL, inside `_reads_pipelined`, they are sent at once and run while the caller
    goes on; their answers are read when asked for. Each is prepared once per connection
    (planning costs PostgreSQL more than these reads do), and answers in binary, which
    loads faster.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            results = []
            for sql, params in queries:
                cursor.execute(sql, params)
                results.append(cursor.fetchall())
        return lambda: results
    with connection.wrap_database_errors:
        cursors = [psycopg.Cursor(connection.connection) for _ in queries]
        for cursor, (sql, params) in zip(cursors, queries, strict=True):
            cursor.execute(sql, params, prepare=True, binary=True)

    def rows() -> list[list[tuple]]:
        with connection.wrap_database_errors:
            return [cursor.fetchall() for cursor in cursors]

    return rows


def _facts_for(
    leads: Sequence[Lead], *, since: datetime.datetime, with_registry: bool = False
) -> tuple[dict[int, GateFacts], Registry | None]:
    """Read the facts for these leads in one query per kind of fact, sent together."""
    with _reads_pipelined():
        return _facts_ask(leads, since=since, with_registry=with_registry).read()


@dataclass
class AskedFacts:
    """Facts asked of the database and not yet read: `read()` waits for the answers."""

    facts: dict[int, GateFacts]
    by_phone: dict[str, list[GateFacts]]
    by_email: dict[str, list[GateFacts]]
    since: datetime.datetime
    with_registry: bool
    rows: Callable[[], list[list[tuple]]]

    def read(self) -> tuple[dict[int, GateFacts], Registry | None]:
        suppressions, consents, listed, attempts, *registry = self.rows()
        _add_suppressions(suppressions, self.by_phone, self.by_email)
        _add_consents(consents, self.facts)
        _add_dnc_lists(listed, self.by_phone)
        _add_outbound_attempts(attempts, self.by_phone, self.since)
        return self.facts, (_registry_from(registry[0]) if self.with_registry else None)


def _facts_ask(
    leads: Sequence[Lead], *, since: datetime.datetime, with_registry: bool = False
) -> AskedFacts:
    """Send the reads of these leads' facts: one query per kind of fact, sent together.

    Attempts are read from `since` on with no upper bound: when the gate looks ahead for
    the next allowed instant, attempts already logged for later times count there too.
    With `with_registry`, the national registry's date comes in the same round trip.
    """
    facts = {lead.pk: GateFacts(lead, *candidate_places(lead)) for lead in leads}
    by_phone, by_email = defaultdict(list), defaultdict(list)
    for fact in facts.values():  # each lead once, however often asked
        if phone := _phone_text(fact.lead.phone):
            by_phone[phone].append(fact)
        if fact.lead.email:
            by_email[fact.lead.email].append(fact)
    queries = [
        _suppressions_query(by_phone, by_email),
        _consents_query(facts),
        _dnc_lists_query(by_phone),
        _outbound_attempts_query(by_phone, since),
    ]
    if with_registry:
        queries.append(REGISTRY_QUERY)
    return AskedFacts(facts, by_phone, by_email, since, with_registry, _rows_send(queries))


def _suppressions_query(by_phone: dict, by_email: dict) -> tuple[str, list]:
    phone_in, phones = _in_list("phone", by_phone)
    email_in, emails = _in_list("email", by_email)
    return SUPPRESSIONS_SQL.format(phone_in=phone_in, email_in=email_in), [*phones, *emails]


def _add_suppressions(
    rows: list[tuple], by_phone: dict[str, list[GateFacts]], by_email: dict[str, list[GateFacts]]
) -> None:
    for pk, phone, email, origin, received_at in rows:
        suppression = Suppression.from_db(
            connection.alias,
            SUPPRESSION_FIELDS,
            [pk, phone, email, origin, _instant_read(received_at)],
        )
        # A new list: adding to the one in by_phone would hand these leads that number's
        # Do Not Call entries and attempts too.
        targets = [
            *(by_phone.get(_phone_text(suppression.phone), []) if suppression.phone else []),
            *(by_email.get(suppression.email, []) if suppression.email else []),
        ]
        for target in targets:
            target.suppressions.append(suppression)


def _consents_query(facts: dict[int, GateFacts]) -> tuple[str, list]:
    lead_in, lead_ids = _in_list("lead_id", facts)
    return CONSENTS_SQL.format(lead_in=lead_in), lead_ids


def _add_consents(rows: list[tuple], facts: dict[int, GateFacts]) -> None:
    for pk, lead_id, channels, sellers, text, captured_at, method, revoked_at in rows:
        # JSON arrives as text from either database, as the ORM's JSONField expects.
        facts[lead_id].consents.append(
            ConsentFacts(
                pk,
                lead_id,
                _json_list(channels),
                _json_list(sellers),
                text,
                _instant_read(captured_at),
                method,
                _instant_read(revoked_at),
            )
        )


def _dnc_lists_query(by_phone: dict) -> tuple[str, list]:
    phone_in, phones = _in_list("dnc_number.phone", by_phone)
    return LISTED_SQL.format(phone_in=phone_in), [*phones, DncListStatus.READY]


def _add_dnc_lists(rows: list[tuple], by_phone: dict[str, list[GateFacts]]) -> None:
    for phone, kind, state in rows:
        for target in by_phone.get(phone, []):
            target.dnc_lists.append((kind, state))


def _outbound_attempts_query(by_phone: dict, since: datetime.datetime) -> tuple[str, list]:
    phone_in, phones = _in_list("lead.phone", by_phone)
    adapted_since = connection.ops.adapt_datetimefield_value(since)
    return (
        OUTBOUND_SQL.format(phone_in=phone_in),
        [*phones, Direction.OUTBOUND, adapted_since, Disposition.SALE],
    )


def _add_outbound_attempts(
    rows: list[tuple], by_phone: dict[str, list[GateFacts]], since: datetime.datetime
) -> None:
    for phone, started_at, channel, product, disposition in rows:
        started_at = _instant_read(started_at)
        for target in by_phone.get(phone, []):
            if disposition == Disposition.SALE and (
                target.last_purchase_at is None or started_at > target.last_purchase_at
            ):
                target.last_purchase_at = started_at
            if started_at > since:
                target.attempts.append((started_at, channel, product))


def _evaluate(
    facts: GateFacts,
    channel: str,
    at: datetime.datetime,
    purpose: str,
    automated: bool,
    registry: Registry,
) -> Decision:
    """Apply every rule to the facts; say why not and when, if not now."""
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}.")
    lead = facts.lead
    missing = _missing_address(lead, channel)
    if missing:
        return Decision(False, [missing], None)
    if purpose == Purpose.TRANSACTIONAL:
        # A help answer or an opt-out confirmation is a reply, not marketing: it may go to a
        # number that just opted out (47 CFR 64.1200(a)(12)); the sender allows only one.
        return Decision(True, [], None)

    lasting = _suppression_reasons(facts, channel)  # reasons that time alone does not lift
    if channel == Channel.EMAIL:
        lasting += _email_reasons()
        return Decision(not lasting, lasting, None)

    consent = _consent_for(facts, channel)
    if automated and consent is None:
        lasting.append(_no_consent_reason(facts, channel))
    if consent is None and not lasting:
        lasting += _dnc_reasons(facts, at, registry)
    if lasting:
        return Decision(False, lasting, None)

    reasons, next_at = _timing(facts, channel, at)
    if not reasons:
        return Decision(True, [], None)
    if next_at is not None and consent is None and _dnc_reasons(facts, next_at, registry):
        next_at = None  # by then the registry copy is too old or the relationship has ended
    return Decision(False, reasons, next_at)


def _missing_address(lead: Lead, channel: str) -> Reason | None:
    if channel == Channel.EMAIL and not lead.email:
        return Reason(ReasonCode.NO_EMAIL, "This lead has no email address.")
    if channel != Channel.EMAIL and not _phone_text(lead.phone):
        return Reason(ReasonCode.NO_PHONE, "This lead has no phone number.")
    return None


def _suppression_reasons(facts: GateFacts, channel: str) -> list[Reason]:
    suppressions = facts.suppressions
    if channel == Channel.SMS:
        # Replying START after STOP re-subscribes to texts (recorded as consent by keyword);
        # the opt-out stays on record and still ends calls and email.
        resubscribed = [
            consent.captured_at
            for consent in facts.consents
            if consent.capture_method == CaptureMethod.SMS_KEYWORD
            and consent.revoked_at is None
            and consent.captured_at
        ]
        if resubscribed:
            suppressions = [s for s in suppressions if s.received_at > max(resubscribed)]
    if not suppressions:
        return []
    first = min(suppressions, key=lambda suppression: suppression.received_at)
    target = "number" if first.phone else "email address"
    return [
        Reason(
            ReasonCode.OPTED_OUT,
            f"This {target} opted out on {first.received_at:%b %d, %Y} "
            f"({first.get_origin_display().lower()}): no marketing on any channel.",
        )
    ]


def _email_reasons() -> list[Reason]:
    from compliance.unsubscribe import email_requirements_missing

    return [
        Reason(ReasonCode.EMAIL_NOT_READY, f"Marketing email is off: {problem}")
        for problem in email_requirements_missing()
    ]


def _names_this_business(consent: ConsentRecord) -> bool:
    sellers = [name.casefold() for name in settings.SELLER_NAMES]
    shown = [name.casefold() for name in consent.seller_names]
    disclosure = consent.disclosure_text.casefold()
    return any(seller in shown or seller in disclosure for seller in sellers)


def _consent_for(facts: GateFacts, channel: str) -> ConsentRecord | None:
    """Return a consent in force for this channel that names this business, if any.

    Prior express written consent must name the seller (47 CFR 64.1200(a)(2), (f)(9)); the
    one-to-one rule was vacated (IMC v. FCC, 11th Cir. 2025), but a disclosure that does not
    name this business is not relied on. Missing disclosure text or capture time is no
    evidence at all.
    """
    for consent in facts.consents:
        if (
            consent.revoked_at is None
            and channel in consent.channels
            and consent.disclosure_text
            and consent.captured_at is not None
            and _names_this_business(consent)
        ):
            return consent
    return None


def _no_consent_reason(facts: GateFacts, channel: str) -> Reason:
    noun = {Channel.CALL: "automated calls", Channel.SMS: "texts"}[channel]
    consents = facts.consents
    if not consents:
        why = "there is no consent record"
    elif all(consent.revoked_at for consent in consents):
        revoked = max(consent.revoked_at for consent in consents)
        why = f"consent was revoked on {revoked:%b %d, %Y}"
    elif not any(channel in consent.channels for consent in consents):
        why = f"the consent does not cover {Channel(channel).label.lower()}"
    elif not any(consent.disclosure_text and consent.captured_at for consent in consents):
        why = "the consent record has no disclosure text or capture time"
    else:
        names = ", ".join(settings.SELLER_NAMES) or "this business (set SELLER_NAMES)"
        why = f"the consent does not name {names}"
    return Reason(ReasonCode.NO_CONSENT, f"No {noun}: {why}.")


def _has_business_relationship(facts: GateFacts, at: datetime.datetime) -> bool:
    lead = facts.lead
    if at - lead.received_at <= EBR_AFTER_INQUIRY:
        return True
    return facts.last_purchase_at is not None and at - facts.last_purchase_at <= (
        EBR_AFTER_PURCHASE
    )


def _dnc_reasons(facts: GateFacts, at: datetime.datetime, registry: Registry) -> list[Reason]:
    """Reasons a contact without consent is barred by Do Not Call rules (none with an EBR)."""
    if _has_business_relationship(facts, at):
        return []
    reasons = []
    national = any(kind == DncListKind.NATIONAL for kind, _ in facts.dnc_lists)
    if national:
        reasons.append(
            Reason(
                ReasonCode.DNC_NATIONAL,
                "The number is on the National Do Not Call Registry and there is no consent "
                "or business relationship to call it.",
            )
        )
    for state in sorted({state for kind, state in facts.dnc_lists if kind == DncListKind.STATE}):
        if state in facts.states:
            reasons.append(
                Reason(
                    ReasonCode.DNC_STATE,
                    f"The number is on {USState(state).label}'s Do Not Call list and there is "
                    "no consent or business relationship to call it.",
                )
            )
    if not national and not registry.is_fresh(at):
        age = (
            f"the newest copy is of {registry.list_date:%b %d, %Y}"
            if registry.list_date
            else "no copy has been imported"
        )
        reasons.append(
            Reason(
                ReasonCode.DNC_NOT_SCRUBBED,
                f"Without consent a number must be checked against a National Do Not Call "
                f"Registry copy at most 31 days old; {age}.",
            )
        )
    return reasons


def _timing(
    facts: GateFacts, channel: str, at: datetime.datetime
) -> tuple[list[Reason], datetime.datetime | None]:
    """Check calling hours and attempt caps; find the first instant both allow."""
    caps = [cap for cap in attempt_caps_for(facts.states) if channel in cap.channels]
    reasons: list[Reason] = []
    moment, hours_open_at = at, None
    for _ in range(20):  # each step moves past one blocking window; a few always suffice
        if moment == hours_open_at:  # hours_check named it: checking it again must pass
            hours = HoursCheck(allowed=True, reasons=[], next_allowed_at=None)
        else:
            hours = hours_check(zones=facts.zones, states=facts.states, at=moment, channel=channel)
        capped = [(cap, until) for cap in caps if (until := _cap_until(facts, cap, moment))]
        if moment == at:
            reasons = hours.reasons + [_cap_reason(cap, until) for cap, until in capped]
        if hours.allowed and not capped:
            return reasons, (None if moment == at else moment)
        later = [until for _, until in capped]
        if not hours.allowed:
            if hours.next_allowed_at is None:
                return reasons, None
            later.append(hours.next_allowed_at)
            hours_open_at = hours.next_allowed_at
        moment = max(later)
    return reasons, None


def _cap_until(
    facts: GateFacts, cap: AttemptCap, at: datetime.datetime
) -> datetime.datetime | None:
    """Return when this cap frees a slot, if it is reached at `at`; else None."""
    counted = sorted(
        started_at
        for started_at, channel, product in facts.attempts
        if channel in cap.channels
        and at - cap.window < started_at <= at
        and (not cap.same_product or product == facts.lead.product)
    )
    if len(counted) < cap.limit:
        return None
    return counted[len(counted) - cap.limit] + cap.window


def _cap_reason(cap: AttemptCap, until: datetime.datetime) -> Reason:
    where = USState(cap.state).label if cap.state else "This business"
    kinds = " or ".join(sorted(Channel(channel).label.lower() for channel in cap.channels))
    about = " about the same product" if cap.same_product else ""
    return Reason(
        ReasonCode.ATTEMPT_CAP,
        f"{where} allows at most {cap.limit} {kinds} attempts{about} per "
        f"{int(cap.window.total_seconds() // 3600)} hours to this number; the limit is reached "
        f"until {until:%b %d %H:%M} UTC.",
    )


def contact_check(
    *,
    lead: Lead,
    channel: str,
    stage: str,
    at: datetime.datetime | None = None,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
    attempt: ContactAttempt | None = None,
    touch=None,
    requested_by=None,
) -> tuple[Decision, ContactDecision]:
    """Decide, and keep the decision with the contact it governs."""
    at = at or timezone.now()
    decision = decide(lead, channel, at, purpose=purpose, automated=automated)
    record = ContactDecision.objects.create(
        lead=lead,
        channel=channel,
        purpose=purpose,
        automated=automated,
        stage=stage,
        decided_for=at,
        allowed=decision.allowed,
        first_reason=decision.reasons[0].code if decision.reasons else "",
        reasons=[reason.as_dict() for reason in decision.reasons],
        next_allowed_at=decision.next_allowed_at,
        attempt=attempt,
        touch=touch,
        requested_by=requested_by,
    )
    return decision, record
