"""Accept leads from a source: the one path the API, the batch API and CSV imports share.

A lead and its consent record are saved in one transaction; when this returns an accepted
result, both are committed. Work after intake is enqueued on commit.
"""

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance.models import CaptureMethod, ConsentRecord
from crm.ratelimit import recent_hits
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
RECEIVED = "Received from the source"


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


@dataclass
class EarlierLeads:
    """The first lead received within the duplicate window, by phone and by email."""

    first_by: dict[str, dict[str, int]] = field(default_factory=lambda: {"phone": {}, "email": {}})


def _earlier_leads(leads: Sequence[CleanLead], *, since: datetime.datetime) -> EarlierLeads:
    """Find the first lead received since `since` for each of these phones and emails.

    Leads are stored in arrival order, so the lowest id is the first received. One query for
    both: every API request asks this, and a second round trip costs more than the SQL.
    """
    earlier = EarlierLeads()
    columns = {
        "phone": sorted({lead.phone for lead in leads}),
        "email": sorted({lead.email for lead in leads if lead.email}),
    }
    table, cutoff = Lead._meta.db_table, connection.ops.adapt_datetimefield_value(since)
    selects, params = [], []
    for column, values in columns.items():
        if values:
            placeholders = ", ".join(["%s"] * len(values))
            selects.append(
                f"SELECT '{column}', {column}, MIN(id) FROM {table} "
                f"WHERE {column} IN ({placeholders}) AND received_at >= %s GROUP BY {column}"
            )
            params += [*values, cutoff]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        for column, value, first_id in cursor.fetchall():
            earlier.first_by[column][value] = first_id
    return earlier


def _flag_repeats(cleans: list[CleanLead]) -> None:
    """Flag phones and consent IPs submitted more than a few times in the last hour."""
    phones = Counter(f"repeat-phone:{clean.phone}" for clean in cleans)
    ips = Counter(
        f"repeat-ip:{clean.consent.ip_address}"
        for clean in cleans
        if clean.consent and clean.consent.ip_address
    )
    window = int(REPEAT_WINDOW.total_seconds())
    seen = recent_hits(counts=phones + ips, window_seconds=window)
    for clean in cleans:
        if seen[f"repeat-phone:{clean.phone}"] > REPEAT_PHONE_LIMIT:
            clean.quality_flags.append(QualityFlag.REPEAT_PHONE)
        ip = clean.consent.ip_address if clean.consent else None
        if ip and seen[f"repeat-ip:{ip}"] > REPEAT_IP_LIMIT:
            clean.quality_flags.append(QualityFlag.REPEAT_IP)


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
        phone=clean.phone_number or clean.phone,
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


def _mark_duplicates(new_leads: list[Lead], earlier: EarlierLeads) -> list[tuple[Lead, Lead]]:
    """Point each new lead at the earlier lead it repeats; return (repeat, original) pairs
    for repeats of a lead earlier in this batch, which can be marked only once it has an id.
    """
    first_by_phone, first_by_email = earlier.first_by["phone"], earlier.first_by["email"]
    batch_by_phone: dict[str, Lead] = {}
    batch_by_email: dict[str, Lead] = {}
    in_batch = []
    for lead in new_leads:
        phone = str(lead.phone)
        lead.duplicate_of_id = first_by_phone.get(phone) or first_by_email.get(lead.email)
        original = batch_by_phone.get(phone) or batch_by_email.get(lead.email)
        if lead.duplicate_of_id is None and original is not None:
            in_batch.append((lead, original))
        batch_by_phone.setdefault(phone, lead)
        if lead.email:
            batch_by_email.setdefault(lead.email, lead)
    return in_batch


def _insert(source: LeadSource, cleans: list[CleanLead], now, capture_method) -> list[Lead]:
    """Save the leads and their consent in one transaction; raise IntegrityError on a race."""
    window = datetime.timedelta(days=settings.LEAD_DUPLICATE_WINDOW_DAYS)
    with transaction.atomic():
        taken = _daily_allowance(source, len(cleans), now)
        admitted = cleans[:taken]
        if not admitted:
            return []
        earlier = _earlier_leads(admitted, since=now - window)
        _flag_repeats(admitted)
        leads = [_lead_from(clean, source, now) for clean in admitted]
        repeats_in_batch = _mark_duplicates(leads, earlier)
        Lead.objects.bulk_create(leads)
        for lead, original in repeats_in_batch:
            lead.duplicate_of_id = original.pk
        if repeats_in_batch:
            Lead.objects.bulk_update([lead for lead, _ in repeats_in_batch], ["duplicate_of"])
        consents = [
            consent
            for clean, lead in zip(admitted, leads, strict=True)
            if (consent := _consent_from(clean, lead, capture_method))
        ]
        ConsentRecord.objects.bulk_create(consents)
        # Their first history rows are written by the fast lane (`intake_history_record`).
        # Robust: a failed enqueue is logged, never turned into an error for a saved lead.
        transaction.on_commit(lambda: _after_intake([lead.pk for lead in leads]), robust=True)
    return leads


def _after_intake(lead_ids: list[int]) -> None:
    from leads.intake.handoff import new_leads_hand_off

    new_leads_hand_off(lead_ids=lead_ids)


def leads_accept(
    *,
    source: LeadSource,
    payloads: Sequence[Mapping],
    capture_method: str = CaptureMethod.API,
) -> list[IntakeResult]:
    """Accept a batch of payloads from one source; return one result per payload, in order."""
    results: list[IntakeResult | None] = [None] * len(payloads)
    for attempt in range(INSERT_ATTEMPTS):
        # A single new lead is the common case: insert it and let the unique constraint catch
        # a replay, instead of asking first. Batches, and any retry, ask first.
        look_first = attempt > 0 or len(payloads) > 1
        if _accept_pending(source, payloads, results, capture_method, look_first) is None:
            break
    # Only a storm of concurrent posts of the same ids gets here; nothing was saved for these.
    conflict = {"lead": [f"{CONFLICT}: saved concurrently by another request; send it again."]}
    return [result or _rejected(conflict, [CONFLICT]) for result in results]


def _accept_pending(source, payloads, results, capture_method, look_first) -> list | None:
    """Fill in results; return None when done, or the indexes lost to a concurrent insert."""
    now = timezone.now()
    ids = {_raw_id(raw) for raw in payloads} - {""}
    existing = _existing_leads(source, ids) if look_first else {}
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
    if not look_first:
        _fill_in_rejected_replays(source, payloads, results)
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


def _fill_in_rejected_replays(source, payloads, results) -> None:
    """Answer a replay of a stored lead as a replay, even if this copy would be rejected."""
    rejected = {_raw_id(payloads[i]): i for i, r in enumerate(results) if r.status == REJECTED}
    for source_lead_id, lead in _existing_leads(source, set(rejected) - {""}).items():
        results[rejected[source_lead_id]] = _result_for(lead, replay=True)


def intake_history_record(*, lead_ids: Sequence[int]) -> None:
    """Write the first history rows of newly received leads and their consent records.

    Run by the fast lane rather than in the request: the rows say what arrived and when
    (dated when it was received), and a retry writes none twice.
    """
    recorded = set(
        Lead.history.filter(id__in=lead_ids, history_type="+").values_list("id", flat=True)
    )
    leads = list(Lead.objects.filter(pk__in=set(lead_ids) - recorded).order_by("pk"))
    consents = list(ConsentRecord.objects.filter(lead__in=leads).order_by("pk"))
    for record in leads:
        record._history_date = record.received_at  # simple_history's per-object date
    for record in consents:
        record._history_date = record.created_at
    with transaction.atomic():
        Lead.history.bulk_history_create(leads, default_change_reason=RECEIVED)
        ConsentRecord.history.bulk_history_create(consents)


def lead_accept(*, source: LeadSource, payload: Mapping) -> IntakeResult:
    """Accept one payload from a source."""
    return leads_accept(source=source, payloads=[payload])[0]
