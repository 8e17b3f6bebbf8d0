"""The gate's rules, applied to facts read in advance: no database and no models here."""

import datetime
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol, TypeVar

from django.conf import settings

from compliance.choices import CaptureMethod, DncListKind, Purpose, SuppressionOrigin
from compliance.hours import HoursCheck, hours_check, hours_open_until
from compliance.reasons import Reason, ReasonCode
from compliance.rules import AttemptCap, attempt_caps_for
from leads.choices import Channel, USState

# 16 CFR 310.4(b)(3)(iv): a seller may call a number only if it was checked against a copy of
# the National Do Not Call Registry obtained no more than 31 days before the call.
REGISTRY_MAX_AGE = datetime.timedelta(days=31)
# 47 CFR 64.1200(f)(5): an established business relationship lets a seller call a number on
# the registry for 18 months after a purchase and 3 months after an inquiry, until the
# person asks not to be called.
EBR_AFTER_PURCHASE = datetime.timedelta(days=548)
EBR_AFTER_INQUIRY = datetime.timedelta(days=91)
# Choices' .values builds a new list on every access.
CHANNELS = frozenset(Channel.values)
STATES = frozenset(USState.values)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: list[Reason]
    next_allowed_at: datetime.datetime | None
    # When the calling hours that allow it (now, or from next_allowed_at) close; None when
    # no hours apply. Caps are not counted: they move only with a new attempt.
    window_ends_at: datetime.datetime | None = None

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the rules read of the lead itself."""

    phone: str  # E.164 as stored, or "" for none
    email: str
    product: str
    received_at: datetime.datetime
    # The carrier refused the number for texts, or the address bounced for good.
    phone_invalid: bool = False
    email_invalid: bool = False


@dataclass(frozen=True, slots=True)
class SuppressionFacts:
    """One opt-out of the lead's number or email address."""

    phone: str
    email: str
    origin: str
    received_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """What the rules read of one of the lead's consent records."""

    channels: Sequence[str]
    seller_names: Sequence[str]
    disclosure_text: str
    captured_at: datetime.datetime | None
    capture_method: str
    revoked_at: datetime.datetime | None


@dataclass
class GateFacts:
    """Everything the rules need to know about one lead, read in advance."""

    lead: LeadFacts
    zones: AbstractSet[str]
    states: AbstractSet[str]
    suppressions: list[SuppressionFacts] = field(default_factory=list)
    consents: list[ConsentFacts] = field(default_factory=list)
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


@cache  # the caps' windows are rules in code; only the default cap's limit is a setting
def longest_cap_window() -> datetime.timedelta:
    """Return how far back attempts count towards any cap."""
    return max(cap.window for cap in attempt_caps_for(STATES))


class _Received(Protocol):
    received_at: datetime.datetime


class _Consent(Protocol):
    capture_method: str
    captured_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


OptOut = TypeVar("OptOut", bound=_Received)


def opt_outs_in_force(
    *, opt_outs: Iterable[OptOut], consents: Iterable[_Consent], channel: str
) -> list[OptOut]:
    """Return the opt-outs that still bar marketing on this channel.

    Replying START after STOP re-subscribes to texts (CTIA; the reply is kept as a consent
    captured by SMS keyword): opt-outs received before the newest such consent in force no
    longer bar texts. They stay on record and still end calls and email.
    """
    opt_outs = list(opt_outs)
    if channel != Channel.SMS:
        return opt_outs
    resubscribed = [
        consent.captured_at
        for consent in consents
        if consent.capture_method == CaptureMethod.SMS_KEYWORD
        and consent.revoked_at is None
        and consent.captured_at
    ]
    if not resubscribed:
        return opt_outs
    since = max(resubscribed)
    return [opt_out for opt_out in opt_outs if opt_out.received_at > since]


def contact_evaluate(
    *,
    facts: GateFacts,
    channel: str,
    at: datetime.datetime,
    purpose: str,
    automated: bool,
    registry: Registry,
    email_problems: Sequence[str],
) -> Decision:
    """Apply every rule to the facts; say why not and when, if not now.

    `email_problems` are what the configuration lacks for marketing email to be lawful.
    """
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}.")
    missing = _missing_address(facts.lead, channel)
    if missing:
        return Decision(False, [missing], None)
    if purpose == Purpose.TRANSACTIONAL:
        # A help answer or an opt-out confirmation is a reply, not marketing: it may go to a
        # number that just opted out (47 CFR 64.1200(a)(12)); the sender allows only one.
        return Decision(True, [], None)

    lasting = _suppression_reasons(facts, channel)  # reasons that time alone does not lift
    if channel == Channel.EMAIL:
        lasting += [
            Reason(ReasonCode.EMAIL_NOT_READY, f"Marketing email is off: {problem}")
            for problem in email_problems
        ]
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
        return Decision(True, [], None, _window_end(facts, channel, at))
    if next_at is not None and consent is None and _dnc_reasons(facts, next_at, registry):
        next_at = None  # by then the registry copy is too old or the relationship has ended
    if next_at is None:
        return Decision(False, reasons, None)
    return Decision(False, reasons, next_at, _window_end(facts, channel, next_at))


def _window_end(facts: GateFacts, channel: str, at: datetime.datetime) -> datetime.datetime | None:
    return hours_open_until(zones=facts.zones, states=facts.states, at=at, channel=channel)


def _missing_address(lead: LeadFacts, channel: str) -> Reason | None:
    if channel == Channel.EMAIL and not lead.email:
        return Reason(ReasonCode.NO_EMAIL, "This lead has no email address.")
    if channel != Channel.EMAIL and not lead.phone:
        return Reason(ReasonCode.NO_PHONE, "This lead has no phone number.")
    if channel == Channel.EMAIL and lead.email_invalid:
        return Reason(ReasonCode.NO_EMAIL, "This lead's email address bounced for good.")
    if channel == Channel.SMS and lead.phone_invalid:
        return Reason(ReasonCode.NO_PHONE, "The carrier said this number cannot take texts.")
    return None


def _suppression_reasons(facts: GateFacts, channel: str) -> list[Reason]:
    suppressions = opt_outs_in_force(
        opt_outs=facts.suppressions, consents=facts.consents, channel=channel
    )
    if not suppressions:
        return []
    first = min(suppressions, key=lambda suppression: suppression.received_at)
    target = "number" if first.phone else "email address"
    origin = SuppressionOrigin(first.origin).label.lower()
    return [
        Reason(
            ReasonCode.OPTED_OUT,
            f"This {target} opted out on {first.received_at:%b %d, %Y} ({origin}): "
            "no marketing on any channel.",
        )
    ]


def _names_this_business(consent: ConsentFacts) -> bool:
    sellers = [name.casefold() for name in settings.SELLER_NAMES]
    shown = [name.casefold() for name in consent.seller_names]
    disclosure = consent.disclosure_text.casefold()
    return any(seller in shown or seller in disclosure for seller in sellers)


def _consent_for(facts: GateFacts, channel: str) -> ConsentFacts | None:
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
    if at - facts.lead.received_at <= EBR_AFTER_INQUIRY:
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
                f"Registry copy at most {REGISTRY_MAX_AGE.days} days old; {age}.",
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
