"""Accept leads from a source: the one path the API, the batch API and CSV imports share.

A lead and its consent record are saved in one transaction; when this returns an accepted
result, both are committed. Work after intake is enqueued on commit.
"""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compliance.models import CaptureMethod, ConsentRecord
from leads.intake.payload import CleanLead, Problems, payload_clean
from leads.models import Lead, LeadSource, SourceDailyCount
from leads.quality import QualityFlag

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"

OUT_OF_AREA = "out_of_area"
PRODUCT_NOT_ACCEPTED = "product_not_accepted"
OVER_DAILY_CAP = "over_daily_cap"
CONSENT_REQUIRED = "consent_required"
INVALID = "invalid"
CONFLICT = "conflict"

REPEAT_WINDOW = datetime.timedelta(hours=1)
REPEAT_PHONE_LIMIT = 3
REPEAT_IP_LIMIT = 5
INSERT_ATTEMPTS = 3


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


def _lead_warnings(lead: Lead) -> list[str]:
    warnings = list(lead.quality_flags)
    if lead.time_zone_mismatch:
        warnings.append("time_zone_mismatch")
    return warnings


def _result_for(lead: Lead, *, replay: bool) -> IntakeResult:
    status = DUPLICATE if lead.duplicate_of_id else ACCEPTED
    return IntakeResult(
        status=status, lead_id=lead.pk, warnings=_lead_warnings(lead), replay=replay
    )


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


def _existing_leads(source: LeadSource, source_lead_ids: set[str]) -> dict[str, Lead]:
    if not source_lead_ids:
        return {}
    leads = Lead.objects.filter(source=source, source_lead_id__in=source_lead_ids).only(
        "id", "source_lead_id", "duplicate_of_id", "quality_flags", "time_zone_mismatch"
    )
    return {lead.source_lead_id: lead for lead in leads}


def _earlier_leads(leads: Sequence[CleanLead], since: datetime.datetime) -> list[tuple]:
    """Return (id, phone, email, received_at) of leads sharing a phone or email, oldest first."""
    phones = {lead.phone for lead in leads}
    emails = {lead.email for lead in leads if lead.email}
    match = Q(phone__in=phones) | Q(email__in=emails) if emails else Q(phone__in=phones)
    return list(
        Lead.objects.filter(match, received_at__gte=since)
        .order_by("received_at", "id")
        .values_list("id", "phone", "email", "received_at")
    )


def _busy_ips(leads: Sequence[CleanLead], since: datetime.datetime) -> set[str]:
    ips = {lead.consent.ip_address for lead in leads if lead.consent and lead.consent.ip_address}
    if not ips:
        return set()
    recent = ConsentRecord.objects.filter(ip_address__in=ips, created_at__gte=since)
    counts: dict[str, int] = {}
    for ip in recent.values_list("ip_address", flat=True):
        counts[ip] = counts.get(ip, 0) + 1
    for lead in leads:
        if lead.consent and lead.consent.ip_address:
            counts[lead.consent.ip_address] = counts.get(lead.consent.ip_address, 0) + 1
    return {ip for ip, count in counts.items() if count > REPEAT_IP_LIMIT}


def _daily_allowance(source: LeadSource, wanted: int, now: datetime.datetime) -> int:
    """Take up to `wanted` places under the source's daily cap; return how many were taken."""
    if source.daily_cap is None or wanted == 0:
        return wanted
    counter, _ = SourceDailyCount.objects.get_or_create(source=source, day=now.date())
    # Lock the day's counter: concurrent posts from this source wait here, so the cap holds.
    counter = SourceDailyCount.objects.select_for_update().get(pk=counter.pk)
    taken = max(0, min(wanted, source.daily_cap - counter.accepted))
    if taken:
        counter.accepted += taken
        counter.save(update_fields=["accepted"])
    return taken


def _lead_from(clean: CleanLead, source: LeadSource, received_at) -> Lead:
    return Lead(
        source=source,
        source_lead_id=clean.source_lead_id,
        received_at=received_at,
        first_name=clean.first_name,
        last_name=clean.last_name,
        phone=clean.phone,
        phone_type=clean.phone_type,
        email=clean.email,
        street=clean.street,
        city=clean.city,
        state=clean.state,
        zip_code=clean.zip_code,
        time_zone=clean.time_zone,
        area_code_time_zones=clean.area_code_time_zones,
        time_zone_mismatch=clean.time_zone_mismatch,
        product=clean.product,
        extra=clean.extra,
        cost=source.price_per_lead,
        is_exclusive=clean.is_exclusive,
        quality_flags=clean.quality_flags,
    )


def _consent_from(clean: CleanLead, lead: Lead, capture_method: str) -> ConsentRecord | None:
    consent = clean.consent
    if consent is None:
        return None
    return ConsentRecord(
        lead=lead,
        channels=consent.channels,
        seller_names=consent.seller_names,
        disclosure_text=consent.disclosure_text,
        captured_at=consent.captured_at,
        ip_address=consent.ip_address,
        user_agent=consent.user_agent,
        page_url=consent.page_url,
        trustedform_cert_url=consent.trustedform_cert_url,
        jornaya_leadid=consent.jornaya_leadid,
        capture_method=capture_method,
    )


def _mark_duplicates(new_leads: list[Lead], earlier: list[tuple]) -> None:
    """Point each new lead at the first lead (earlier, or earlier in this batch) it repeats."""
    first_by_phone: dict[str, int] = {}
    first_by_email: dict[str, int] = {}
    for lead_id, phone, email, _ in earlier:
        first_by_phone.setdefault(str(phone), lead_id)
        if email:
            first_by_email.setdefault(email, lead_id)
    for lead in new_leads:
        phone = str(lead.phone)
        original = first_by_phone.get(phone) or (
            first_by_email.get(lead.email) if lead.email else None
        )
        if original and original != lead.pk:
            lead.duplicate_of_id = original
        first_by_phone.setdefault(phone, lead.pk)
        if lead.email:
            first_by_email.setdefault(lead.email, lead.pk)


def _flag_repeats(cleans: list[CleanLead], earlier: list[tuple], busy_ips: set[str], now) -> None:
    recent_phones: dict[str, int] = {}
    for _, phone, _, received_at in earlier:
        if received_at >= now - REPEAT_WINDOW:
            recent_phones[str(phone)] = recent_phones.get(str(phone), 0) + 1
    for clean in cleans:
        recent_phones[clean.phone] = recent_phones.get(clean.phone, 0) + 1
    for clean in cleans:
        if recent_phones[clean.phone] > REPEAT_PHONE_LIMIT:
            clean.quality_flags.append(QualityFlag.REPEAT_PHONE)
        if clean.consent and clean.consent.ip_address in busy_ips:
            clean.quality_flags.append(QualityFlag.REPEAT_IP)


def _insert(source: LeadSource, cleans: list[CleanLead], now, capture_method) -> list[Lead]:
    """Save the leads and their consent in one transaction; raise IntegrityError on a race."""
    window = datetime.timedelta(days=settings.LEAD_DUPLICATE_WINDOW_DAYS)
    with transaction.atomic():
        taken = _daily_allowance(source, len(cleans), now)
        admitted = cleans[:taken]
        if not admitted:
            return []
        earlier = _earlier_leads(admitted, since=now - window)
        _flag_repeats(admitted, earlier, _busy_ips(admitted, now - REPEAT_WINDOW), now)
        leads = Lead.objects.bulk_create([_lead_from(c, source, now) for c in admitted])
        _mark_duplicates(leads, earlier)
        duplicates = [lead for lead in leads if lead.duplicate_of_id]
        if duplicates:
            Lead.objects.bulk_update(duplicates, ["duplicate_of"])
        Lead.history.bulk_history_create(
            leads, default_date=now, default_change_reason="Received from the source"
        )
        consents = [
            consent
            for clean, lead in zip(admitted, leads, strict=True)
            if (consent := _consent_from(clean, lead, capture_method))
        ]
        ConsentRecord.objects.bulk_create(consents)
        ConsentRecord.history.bulk_history_create(consents, default_date=now)
        # Robust: a failed enqueue is logged, never turned into an error for a saved lead.
        transaction.on_commit(lambda: _after_intake([lead.pk for lead in leads]), robust=True)
    return leads


def _after_intake(lead_ids: list[int]) -> None:
    from leads.tasks import process_new_leads

    process_new_leads.delay(lead_ids)


def leads_accept(
    *,
    source: LeadSource,
    payloads: Sequence[Mapping],
    capture_method: str = CaptureMethod.API,
) -> list[IntakeResult]:
    """Accept a batch of payloads from one source; return one result per payload, in order."""
    results: list[IntakeResult | None] = [None] * len(payloads)
    for _attempt in range(INSERT_ATTEMPTS):
        if _accept_pending(source, payloads, results, capture_method) is None:
            break
    # Only a storm of concurrent posts of the same ids gets here; nothing was saved for these.
    conflict = {"lead": [f"{CONFLICT}: saved concurrently by another request; send it again."]}
    return [result or _rejected(conflict, [CONFLICT]) for result in results]


def _accept_pending(source, payloads, results, capture_method) -> list | None:
    """Fill in results; return None when done, or the indexes lost to a concurrent insert."""
    now = timezone.now()
    ids = {str(p.get("source_lead_id", "")).strip() for p in payloads if isinstance(p, Mapping)}
    existing = _existing_leads(source, ids - {""})
    fresh: list[tuple[int, CleanLead]] = []
    seen_in_batch: dict[str, int] = {}
    for index, raw in enumerate(payloads):
        if results[index] is not None:
            continue
        clean, problems = payload_clean(raw=raw, source=source)
        source_lead_id = clean.source_lead_id if clean else _raw_id(raw)
        if source_lead_id in existing:
            results[index] = _result_for(existing[source_lead_id], replay=True)
            continue
        if clean is None:
            results[index] = _rejected(problems, [INVALID])
            continue
        filter_problems, reasons = _source_filter_problems(clean, source)
        if filter_problems:
            results[index] = _rejected(filter_problems, reasons)
        elif clean.source_lead_id in seen_in_batch:
            seen_in_batch[clean.source_lead_id] = index  # replay of an item above: filled below
        else:
            seen_in_batch[clean.source_lead_id] = index
            fresh.append((index, clean))
    try:
        leads = _insert(source, [clean for _, clean in fresh], now, capture_method)
    except IntegrityError:
        # Another request saved one of these source lead ids first: look again.
        return [index for index, _ in fresh]
    for (index, _), lead in zip(fresh, leads, strict=False):
        results[index] = _result_for(lead, replay=False)
    for index, _ in fresh[len(leads) :]:
        results[index] = _rejected(
            {
                "lead": [
                    f"{OVER_DAILY_CAP}: this source's daily cap of {source.daily_cap} is reached."
                ]
            },
            [OVER_DAILY_CAP],
        )
    _fill_in_batch_replays(payloads, results, fresh, leads)
    return None


def _raw_id(raw) -> str:
    return str(raw.get("source_lead_id", "")).strip() if isinstance(raw, Mapping) else ""


def _fill_in_batch_replays(payloads, results, fresh, leads) -> None:
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


def lead_accept(*, source: LeadSource, payload: Mapping) -> IntakeResult:
    """Accept one payload from a source."""
    return leads_accept(source=source, payloads=[payload])[0]
