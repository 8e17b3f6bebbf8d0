"""Reading what the gate's rules need to know about a chunk of leads: one query per kind of fact."""

import datetime
import json
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

from django.db import connection
from django.db.models import CharField, ExpressionWrapper, F, Q
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from compliance.choices import DncListKind, DncListStatus
from compliance.gate.evaluate import (
    ConsentFacts,
    GateFacts,
    LeadFacts,
    Registry,
    SuppressionFacts,
)
from leads.models import ContactAttempt, Lead
from leads.models.attempt import Direction, Disposition
from leads.normalize import area_code_places, place_tables, zip_location


def phone_text(phone: PhoneNumber | str | None) -> str:
    """Return a number as the phone columns store it, E.164, or "" for none.

    A number read from E.164 text formats back to that text, valid or not. str() would check
    it against the numbering plan first (so would `if phone`): measured with
    bench/compliance.py, a quarter of decide_many's time.
    """
    if not isinstance(phone, PhoneNumber):
        return phone or ""
    return phone.as_e164 if phone.country_code else str(phone)  # str(): text it could not parse


def _stored_text(column: str) -> ExpressionWrapper:
    """Refer to a phone column as the text it holds, which is what the gate compares.

    As a PhoneNumberField, every number passed in or read back is parsed and validated again:
    measured with bench/compliance.py, that was two thirds of decide_many's time (1,000
    numbers a chunk; 3,600 decisions/s against the 5,000 wanted).
    """
    return ExpressionWrapper(F(column), output_field=CharField())


def candidate_places(lead: Lead) -> tuple[set[str], set[str]]:
    """Return every zone and state the lead may be in: ZIP, stated address and area code."""
    zones, states = _lead_places(lead, phone_text(lead.phone))
    return set(zones), set(states)


def _lead_places(lead: Lead, phone: str) -> tuple[frozenset[str], frozenset[str]]:
    return _places(
        lead.time_zone,
        tuple(lead.area_code_time_zones or ()),
        lead.zip_code,
        lead.state,
        phone[2:5] if phone else "",
    )


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


def registry_read() -> Registry:
    """Return the date of the national registry copy in force."""
    registry, _ = _dnc_lists_read([])
    return registry


def facts_read(
    *, leads: Sequence[Lead], since: datetime.datetime
) -> tuple[dict[int, GateFacts], Registry]:
    """Read the facts of these leads, by lead id, and the national registry's state.

    One query per kind of fact, unordered: no rule depends on the order of the facts.
    Attempts are read from `since` on with no upper bound: when the gate looks ahead for the
    next allowed instant, attempts already logged for later times count there too.
    """
    facts: dict[int, GateFacts] = {}
    by_phone: dict[str, list[GateFacts]] = defaultdict(list)
    by_email: dict[str, list[GateFacts]] = defaultdict(list)
    for lead in leads:
        if lead.pk in facts:  # each lead once, however often asked
            continue
        phone = phone_text(lead.phone)
        fact = GateFacts(
            LeadFacts(
                phone,
                lead.email,
                lead.product,
                lead.received_at,
                phone_invalid=lead.phone_invalid_at is not None,
                email_invalid=lead.email_invalid_at is not None,
            ),
            *_lead_places(lead, phone),
        )
        facts[lead.pk] = fact
        if phone:
            by_phone[phone].append(fact)
        if lead.email:
            by_email[lead.email].append(fact)
    _suppressions_add(by_phone, by_email)
    _consents_add(facts)
    registry, listings = _dnc_lists_read(list(by_phone))
    for phone, kind, state in listings:
        for target in by_phone.get(phone, ()):
            target.dnc_lists.append((kind, state))
    _outbound_attempts_add(by_phone, since)
    return facts, registry


# The reads of the compliance app's own tables are plain SQL on Django's cursor, the same on
# SQLite and PostgreSQL. Measured with bench/compliance.py at full size: with querysets,
# building and compiling them was most of a single decide's time (median 2.2-2.8 ms, p99
# 4.6-9.7 ms against the 5 ms target); with these three as SQL, median 1.3 ms, p99 1.9-2.6
# ms. The attempts, in the leads app's tables, are read with the ORM.
def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in(values: Sequence) -> str:
    """Return the placeholders of an IN list; an empty list, (NULL), matches nothing."""
    return ", ".join(["%s"] * len(values)) or "NULL"


def _instant(moment: datetime.datetime | None) -> datetime.datetime | None:
    """Return an instant as the ORM reads it: SQLite gives it without its zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return timezone.make_aware(moment, connection.timezone)


def _suppressions_add(
    by_phone: dict[str, list[GateFacts]], by_email: dict[str, list[GateFacts]]
) -> None:
    phones, emails = list(by_phone), list(by_email)
    rows = _rows(
        "SELECT phone, email, origin, received_at FROM compliance_suppression "
        f"WHERE phone IN ({_in(phones)}) OR email IN ({_in(emails)})",
        [*phones, *emails],
    )
    for phone, email, origin, received_at in rows:
        suppression = SuppressionFacts(phone, email, origin, _instant(received_at))
        for target in [*by_phone.get(phone, ()), *by_email.get(email, ())]:
            target.suppressions.append(suppression)


def _consents_add(facts: dict[int, GateFacts]) -> None:
    lead_ids = list(facts)
    rows = _rows(
        "SELECT lead_id, channels, seller_names, disclosure_text, captured_at, capture_method, "
        f"revoked_at FROM compliance_consentrecord WHERE lead_id IN ({_in(lead_ids)})",
        lead_ids,
    )
    # JSON columns arrive as text from either database, as JSONField reads them.
    for lead_id, channels, sellers, text, captured_at, method, revoked_at in rows:
        facts[lead_id].consents.append(
            ConsentFacts(
                json.loads(channels),
                json.loads(sellers),
                text,
                _instant(captured_at),
                method,
                _instant(revoked_at),
            )
        )


def _dnc_lists_read(phones: list[str]) -> tuple[Registry, list[tuple[str, str, str]]]:
    """Return the national registry's state and which lists in force hold these numbers.

    Each list in force comes once with no number, or once for each of these it holds: one
    read where two would cost `decide` a second query.
    """
    rows = _rows(
        "SELECT list.kind, list.state, list.list_date, number.phone "
        "FROM compliance_dnclist list LEFT JOIN compliance_dncnumber number "
        f"ON number.dnc_list_id = list.id AND number.phone IN ({_in(phones)}) "
        "WHERE list.status = %s",
        [*phones, DncListStatus.READY],
    )
    national_dates, listings = [], []
    for kind, state, list_date, phone in rows:
        if kind == DncListKind.NATIONAL:
            national_dates.append(list_date)
        if phone is not None:
            listings.append((phone, kind, state))
    return Registry(list_date=max(national_dates, default=None)), listings


def _outbound_attempts_add(by_phone: dict[str, list[GateFacts]], since: datetime.datetime) -> None:
    """Add attempts to each number since `since`, and its last sale of any age (the EBR)."""
    rows = (
        ContactAttempt.objects.annotate(lead_phone=_stored_text("lead__phone"))
        .filter(
            Q(started_at__gt=since) | Q(disposition=Disposition.SALE),
            lead_phone__in=list(by_phone),
            direction=Direction.OUTBOUND,
        )
        .order_by()
        .values_list("lead_phone", "started_at", "channel", "lead__product", "disposition")
    )
    for phone, started_at, channel, product, disposition in rows:
        for target in by_phone.get(phone, []):
            if disposition == Disposition.SALE and (
                target.last_purchase_at is None or started_at > target.last_purchase_at
            ):
                target.last_purchase_at = started_at
            if started_at > since:
                target.attempts.append((started_at, channel, product))
