"""Accept leads from a source: the one path the API, the batch API and CSV imports share.

A lead and its consent record are saved together, by one statement (leads.intake.storage);
when this returns an accepted result, both are committed. Work after intake is enqueued on
commit.
"""

import datetime
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, When
from django.utils import timezone

from compliance.models import CaptureMethod
from leads.intake.handoff import new_leads_hand_off
from leads.intake.payload import CleanLead, Problems, payload_clean
from leads.intake.storage import StoredLead, leads_insert, leads_stored
from leads.models import Lead, LeadSource, SourceDailyCount
from leads.validators import unstorable_text_problem

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"

OUT_OF_AREA = "out_of_area"
PRODUCT_NOT_ACCEPTED = "product_not_accepted"
OVER_DAILY_CAP = "over_daily_cap"
CONSENT_REQUIRED = "consent_required"
INVALID = "invalid"
CONFLICT = "conflict"


@dataclass
class IntakeResult:
    status: str
    lead_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    replay: bool = False

    @property
    def http_status(self) -> int:
        if CONFLICT in self.reasons:
            return 409
        if self.status == REJECTED:
            return 422
        return 200 if self.replay else 201

    def as_dict(self) -> dict:
        if self.status == REJECTED:
            return {"status": REJECTED, "errors": self.errors, "reasons": self.reasons}
        return {"id": self.lead_id, "status": self.status, "warnings": self.warnings}


def _rejected(problems: Mapping[str, list[str]], reasons: list[str]) -> IntakeResult:
    return IntakeResult(status=REJECTED, errors=dict(problems), reasons=reasons)


def _source_filter_problems(lead: CleanLead, source: LeadSource) -> tuple[Problems, list[str]]:
    problems, reasons = Problems(), []
    if lead.state and not source.accepts_state(lead.state):
        problems.add("state", f"{OUT_OF_AREA}: this source may not send leads from {lead.state}.")
        reasons.append(OUT_OF_AREA)
    if not lead.state and source.accepted_states:
        problems.add("state", f"{OUT_OF_AREA}: a state or ZIP is required from this source.")
        reasons.append(OUT_OF_AREA)
    if not source.accepts_product(lead.product):
        problems.add(
            "product",
            f"{PRODUCT_NOT_ACCEPTED}: {lead.product or 'no product'!s} is not one of "
            f"{', '.join(source.accepted_products)}.",
        )
        reasons.append(PRODUCT_NOT_ACCEPTED)
    if source.require_consent and not (lead.consent and lead.consent.is_evidence):
        problems.add(
            "consent",
            f"{CONSENT_REQUIRED}: this source must send consent with captured_at, "
            "disclosure_text and channels.",
        )
        reasons.append(CONSENT_REQUIRED)
    return problems, reasons


@dataclass(frozen=True)
class ExistingLead:
    """What a replay answers with: the stored lead's id, duplicate mark and warnings."""

    id: int
    duplicate_of_id: int | None
    warnings: list[str]


def _existing_leads(source: LeadSource, source_lead_ids: set[str]) -> dict[str, ExistingLead]:
    if not source_lead_ids:
        return {}
    return {
        source_lead_id: ExistingLead(id, duplicate_of_id, _warnings(flags, mismatch))
        for source_lead_id, id, duplicate_of_id, flags, mismatch in leads_stored(
            source=source, source_lead_ids=source_lead_ids
        )
    }


def _warnings(quality_flags: list[str], time_zone_mismatch: bool) -> list[str]:
    return [*quality_flags, "time_zone_mismatch"] if time_zone_mismatch else list(quality_flags)


def _new_result(clean: CleanLead, stored: StoredLead) -> IntakeResult:
    return IntakeResult(
        status=DUPLICATE if stored.duplicate_of_id else ACCEPTED,
        lead_id=stored.id,
        warnings=_warnings(stored.quality_flags, clean.time_zone_mismatch),
    )


def _replay_result(existing: ExistingLead) -> IntakeResult:
    return IntakeResult(
        status=DUPLICATE if existing.duplicate_of_id else ACCEPTED,
        lead_id=existing.id,
        warnings=existing.warnings,
        replay=True,
    )


def _daily_places(source: LeadSource, wanted: int, day: datetime.date) -> int:
    """Return how many of `wanted` leads fit under the source's daily cap today.

    Locks the day's counter until the transaction ends: concurrent posts from this source
    wait here, so the cap holds.
    """
    if source.daily_cap is None or wanted == 0:
        return wanted
    SourceDailyCount.objects.bulk_create(
        [SourceDailyCount(source=source, day=day)], ignore_conflicts=True
    )
    counter = SourceDailyCount.objects.select_for_update().get(source=source, day=day)
    return max(0, min(wanted, source.daily_cap - counter.accepted))


def _daily_count_add(source: LeadSource, day: datetime.date, stored: int) -> None:
    if source.daily_cap is not None and stored:
        SourceDailyCount.objects.filter(source=source, day=day).update(
            accepted=F("accepted") + stored
        )


def _mark_batch_repeats(
    admitted: list[CleanLead], stored: dict[str, StoredLead], concurrent: dict[str, ExistingLead]
) -> None:
    """Mark each new lead that repeats the phone or email of an earlier lead in its batch.

    The insert marks repeats of leads stored before it; a lead earlier in the same batch has
    no id until the insert, so those are marked here, in the same transaction.
    """
    first_by_phone: dict[str, int] = {}
    first_by_email: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for clean in admitted:
        lead = stored.get(clean.source_lead_id) or concurrent.get(clean.source_lead_id)
        if lead is None:
            continue
        original = first_by_phone.get(clean.phone) or first_by_email.get(clean.email)
        if clean.source_lead_id in stored and not lead.duplicate_of_id and original:
            stored[clean.source_lead_id] = StoredLead(lead.id, original, lead.quality_flags)
            repeats[lead.id] = original
        first_by_phone.setdefault(clean.phone, lead.id)
        if clean.email:
            first_by_email.setdefault(clean.email, lead.id)
    if repeats:
        Lead.objects.filter(pk__in=repeats).update(
            duplicate_of_id=Case(*(When(pk=id, then=original) for id, original in repeats.items()))
        )


@dataclass
class Stored:
    """What became of the leads handed to `_store`."""

    admitted: int  # how many fitted under the daily cap; the rest were not tried
    new: dict[str, StoredLead]  # inserted now, by source lead id
    concurrent: dict[str, ExistingLead]  # stored meanwhile by another request


def _store(source: LeadSource, cleans: list[CleanLead], now, capture_method) -> Stored:
    """Save the leads and their consent; when this returns, they are committed."""
    window = datetime.timedelta(days=settings.LEAD_DUPLICATE_WINDOW_DAYS)
    # One lead from a source without a cap is one statement, atomic by itself; anything
    # more (the daily counter, marking repeats within a batch) is one transaction.
    single = len(cleans) == 1 and source.daily_cap is None
    with nullcontext() if single else transaction.atomic():
        admitted = cleans[: _daily_places(source, len(cleans), now.date())]
        if not admitted:
            return Stored(0, {}, {})
        new = leads_insert(
            source=source,
            leads=admitted,
            received_at=now,
            duplicates_since=now - window,
            capture_method=capture_method,
        )
        _daily_count_add(source, now.date(), len(new))
        # Skipped by the insert: saved by a concurrent request, which the insert waited for.
        concurrent = _existing_leads(
            source, {clean.source_lead_id for clean in admitted} - set(new)
        )
        if len(admitted) > 1:
            _mark_batch_repeats(admitted, new, concurrent)
        if new:
            # Their first history rows are written by the fast lane (leads.fastlane).
            # Robust: a failed enqueue is logged, never turned into an error for a saved lead.
            lead_ids = [lead.id for lead in new.values()]
            transaction.on_commit(lambda: new_leads_hand_off(lead_ids=lead_ids), robust=True)
    return Stored(len(admitted), new, concurrent)


def leads_accept(
    *,
    source: LeadSource,
    payloads: Sequence[Mapping],
    capture_method: str = CaptureMethod.API,
) -> list[IntakeResult]:
    """Accept a batch of payloads from one source; return one result per payload, in order."""
    checked = leads_check(source=source, payloads=payloads, capture_method=capture_method)
    return leads_store(checked=checked)


@dataclass
class CheckedLeads:
    """Payloads validated by `leads_check`, waiting for `leads_store`."""

    source: LeadSource
    payloads: Sequence[Mapping]
    capture_method: str
    received_at: datetime.datetime
    results: list[IntakeResult | None]  # filled in for every payload that is not new
    fresh: list[tuple[int, CleanLead]]  # (index, clean lead) of each new lead
    looked_first: bool


def leads_check(
    *, source: LeadSource, payloads: Sequence[Mapping], capture_method: str = CaptureMethod.API
) -> CheckedLeads:
    """Validate payloads and answer replays; storing the new leads is `leads_store`'s part.

    Apart so an import can check its next rows while the last ones are stored.
    """
    received_at = timezone.now()
    results: list[IntakeResult | None] = [None] * len(payloads)
    # New leads are the common case: insert them, and let the insert tell a replay, instead
    # of asking first. A batch under a daily cap asks first, so replays take no place under it.
    look_first = len(payloads) > 1 and source.daily_cap is not None
    ids = {_raw_id(raw) for raw in payloads} - {""}
    existing = _existing_leads(source, ids) if look_first else {}
    fresh: list[tuple[int, CleanLead]] = []
    seen_in_batch: set[str] = set()
    for index, raw in enumerate(payloads):
        if _raw_id(raw) in existing:
            results[index] = _replay_result(existing[_raw_id(raw)])
            continue
        clean, problems = payload_clean(raw=raw, source=source)
        if clean is None:
            results[index] = _rejected(problems, [INVALID])
            continue
        filter_problems, reasons = _source_filter_problems(clean, source)
        if filter_problems:
            results[index] = _rejected(filter_problems, reasons)
        elif clean.source_lead_id not in seen_in_batch:  # a repeat is filled in below
            seen_in_batch.add(clean.source_lead_id)
            fresh.append((index, clean))
    return CheckedLeads(source, payloads, capture_method, received_at, results, fresh, look_first)


def leads_store(*, checked: CheckedLeads) -> list[IntakeResult]:
    """Store the new leads of checked payloads; return one result per payload, in order."""
    source, fresh, results = checked.source, checked.fresh, checked.results
    stored = _store(
        source, [clean for _, clean in fresh], checked.received_at, checked.capture_method
    )
    for position, (index, clean) in enumerate(fresh):
        results[index] = _fresh_result(clean, position, stored, source)
    _fill_in_batch_replays(checked.payloads, results, fresh)
    if not checked.looked_first:
        _fill_in_rejected_replays(source, checked.payloads, results)
    return results


def _fresh_result(clean: CleanLead, position: int, stored: Stored, source) -> IntakeResult:
    if position >= stored.admitted:
        message = f"{OVER_DAILY_CAP}: this source's daily cap of {source.daily_cap} is reached."
        return _rejected({"lead": [message]}, [OVER_DAILY_CAP])
    if clean.source_lead_id in stored.new:
        return _new_result(clean, stored.new[clean.source_lead_id])
    if clean.source_lead_id in stored.concurrent:
        return _replay_result(stored.concurrent[clean.source_lead_id])
    # Neither inserted nor found: it was stored and removed in the meantime.
    conflict = {"lead": [f"{CONFLICT}: saved concurrently by another request; send it again."]}
    return _rejected(conflict, [CONFLICT])


def _raw_id(raw) -> str:
    """Return the source lead id a payload names, or "" for none that could be stored."""
    if not isinstance(raw, Mapping):
        return ""
    source_lead_id = str(raw.get("source_lead_id", "")).strip()
    return "" if unstorable_text_problem(source_lead_id) else source_lead_id


def _fill_in_batch_replays(payloads, results, fresh) -> None:
    by_id = {clean.source_lead_id: results[index] for index, clean in fresh}
    for index, raw in enumerate(payloads):
        if results[index] is None:
            first = by_id.get(_raw_id(raw))
            if first is not None:
                results[index] = IntakeResult(
                    status=first.status,
                    lead_id=first.lead_id,
                    warnings=first.warnings,
                    errors=first.errors,
                    reasons=first.reasons,
                    replay=first.status != REJECTED,
                )


def _fill_in_rejected_replays(source, payloads, results) -> None:
    """Answer a replay of a stored lead as a replay, even if this copy would be rejected."""
    rejected = {_raw_id(payloads[i]): i for i, r in enumerate(results) if r.status == REJECTED}
    for source_lead_id, lead in _existing_leads(source, set(rejected) - {""}).items():
        results[rejected[source_lead_id]] = _replay_result(lead)


def lead_accept(*, source: LeadSource, payload: Mapping) -> IntakeResult:
    """Accept one payload from a source."""
    return leads_accept(source=source, payloads=[payload])[0]
