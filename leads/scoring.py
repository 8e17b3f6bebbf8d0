"""Lead scores: how promising a lead is. 0 to 100, higher first.

A score is the sum of named factors, kept with the lead (`Lead.score_factors`) so its page
and the admin show why it scored what it did ("+15 mobile phone, -15 disposable email").
The rules that decide whether a factor applies are here; the points each one adds are
`ScoringFactor` rows that managers weigh in the admin (a factor that is not counted, or has
no row, adds nothing). The factors:

- what arrived with the lead: its phone's type, an email, a full name, a street address,
  the channels it consented to, exclusivity, intake's quality flags, being a duplicate;
- its product: a factor keyed `product-<the product, slugified>` (added in the admin);
- its source's record: how the source's leads of the last 90 days were contacted and sold,
  against all sources' (`SOURCE_HISTORY_MIN_LEADS` leads at least);
- what the lead did: replied by text or email, called back.

Events rescore a lead (`lead_rescore`); a person rescores many as an RQ job
(`leads_rescore_enqueue`, `leads.jobs.rescore_leads`). Neither refreshes the lead's place in
the queue (`leads.workspace.queue.leads_queue_refresh`, which reads the score): the
workspace calls this module, so its callers do that.
"""

import datetime
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify
from rq.job import JobStatus
from simple_history.utils import bulk_update_with_history

from compliance.models import ConsentRecord
from crm.queues import rq_queue
from leads.choices import Channel
from leads.models import (
    ContactAttempt,
    Conversion,
    ConversionKind,
    Direction,
    Lead,
    ScoringFactor,
)

logger = logging.getLogger(__name__)

PRODUCT_KEY_PREFIX = "product-"
SOURCE_HISTORY_WINDOW = datetime.timedelta(days=90)
# Fewer leads than this in the window say too little about a source to weigh it.
SOURCE_HISTORY_MIN_LEADS = 50
REPLY_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL})
RESCORED = "Rescored"
# The factors the rules know, with the weights they ship with: (key, label, points, what).
# Managers change the points in the admin; a row missing (a new install, a flushed test
# database) is put back with these after every migrate.
DEFAULT_FACTORS = [
    ("base", "base", 40, "Every lead starts here."),
    ("phone_mobile", "mobile phone", 15, "The phone is a mobile: it can be called and texted."),
    ("phone_landline", "landline phone", 5, ""),
    ("phone_voip", "VoIP phone", -5, ""),
    ("phone_toll_free", "toll-free phone", -10, "Rarely a person's own number."),
    ("has_email", "has an email address", 5, ""),
    ("full_name", "full name", 5, "Both a first and a last name."),
    ("street_address", "street address", 5, "A street and a ZIP."),
    ("consent_call", "consent to calls", 10, ""),
    ("consent_sms", "consent to texts", 5, ""),
    ("consent_email", "consent to email", 2, ""),
    ("exclusive", "exclusive", 10, "Sold to this business alone."),
    ("quality_flag", "quality flag", -15, "For each doubt intake raised (the flag names it)."),
    ("duplicate", "duplicate of an earlier lead", -20, ""),
    (
        "source_history",
        "source's record",
        10,
        "Up to this many points, more or less, for how the source's leads were contacted and "
        "sold over the last 90 days against all sources (once it has enough leads).",
    ),
    ("engaged_replied", "replied", 10, "The lead answered a text or an email."),
    ("engaged_called_back", "called back", 15, "The lead called the business."),
    (
        "engaged_opened",
        "opened an email",
        3,
        "Not applied yet: Leadline does not track email opens.",
    ),
]


def scoring_factors_ensure() -> int:
    """Create the rules' factors that have no row yet, with their shipped weights; rows
    that exist keep the weights managers gave them. Returns how many were created."""
    existing = set(ScoringFactor.objects.values_list("key", flat=True))
    created = ScoringFactor.objects.bulk_create(
        [
            ScoringFactor(key=key, label=label, points=points, description=description)
            for key, label, points, description in DEFAULT_FACTORS
            if key not in existing
        ],
        ignore_conflicts=True,
    )
    return len(created)


def scoring_factors_after_migrate(sender, app_config=None, plan=None, using="default", **kwargs):
    if app_config is None or app_config.label != "leads" or plan is False:
        return
    # Migrated back to before the table existed: nothing to put back.
    if ScoringFactor._meta.db_table in connections[using].introspection.table_names():
        scoring_factors_ensure()


RESCORE_CHUNK = 1000
RESCORE_JOB = "leads.jobs.rescore_leads"
RESCORE_JOB_PREFIX = "rescore-"
RESCORE_TIMEOUT_SECONDS = 3 * 3600
# How long the progress page can still show a finished rescore.
RESCORE_KEPT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Score:
    total: int
    factors: list[tuple[str, int]]  # (what, points), in the order they were added

    def as_stored(self) -> list[list]:
        return [[label, points] for label, points in self.factors]


@dataclass(frozen=True)
class Weight:
    label: str
    points: int


@dataclass(frozen=True)
class SourceRecord:
    """How a source's leads (or all sources') received in the window went."""

    leads: int = 0
    contacted: int = 0
    sold: int = 0

    @property
    def contact_rate(self) -> float:
        return self.contacted / self.leads if self.leads else 0.0

    @property
    def sale_rate(self) -> float:
        return self.sold / self.leads if self.leads else 0.0


@dataclass(frozen=True)
class SourceStats:
    """A source's record beside all sources' record, over the same window."""

    source: SourceRecord
    overall: SourceRecord


NO_STATS = SourceStats(source=SourceRecord(), overall=SourceRecord())


def factor_weights() -> dict[str, Weight]:
    """The counted factors' labels and points, by key (one query)."""
    return {
        key: Weight(label, points)
        for key, label, points in ScoringFactor.objects.filter(is_active=True).values_list(
            "key", "label", "points"
        )
    }


def product_factor_key(product: str) -> str:
    """The key of the factor that weighs leads of this product: product-<slug>."""
    return f"{PRODUCT_KEY_PREFIX}{slugify(product)}"


def _window(at: datetime.datetime | None) -> tuple[datetime.datetime, datetime.datetime]:
    until = at or timezone.now()
    return until - SOURCE_HISTORY_WINDOW, until


def _record_aggregates() -> dict:
    sold = Exists(Conversion.objects.filter(lead=OuterRef("pk"), kind=ConversionKind.SALE))
    return {
        "leads": Count("pk"),
        "contacted": Count("pk", filter=Q(first_contact_at__isnull=False)),
        "sold": Count("pk", filter=Q(sold)),
    }


def source_stats_read(*, source_id: int, at: datetime.datetime | None = None) -> SourceStats:
    """This source's record over the window, and all sources' once it has enough leads to
    be weighed (one aggregate query each; the first by lead_source_received_idx)."""
    since, until = _window(at)
    row = Lead.objects.filter(source_id=source_id, received_at__range=(since, until)).aggregate(
        **_record_aggregates()
    )
    record = SourceRecord(**row)
    if record.leads < SOURCE_HISTORY_MIN_LEADS:
        return SourceStats(source=record, overall=SourceRecord())
    overall = Lead.objects.filter(received_at__range=(since, until)).aggregate(
        **_record_aggregates()
    )
    return SourceStats(source=record, overall=SourceRecord(**overall))


def source_stats_cached(*, source_id: int) -> SourceStats:
    """`source_stats_read` now, kept SOURCE_STATS_CACHE_SECONDS in Django's cache: a 90-day
    rate moves little in minutes, and the aggregates scan the whole window (0.2-0.9 s on
    225,000 leads), too slow to run for every lead in the fast lane. A cache that cannot be
    reached (Redis away) only costs the reads."""
    ttl = settings.SOURCE_STATS_CACHE_SECONDS
    if ttl <= 0:
        return source_stats_read(source_id=source_id)
    key = f"leadline:source-stats:{source_id}"
    try:
        stats = cache.get(key)
    except Exception:
        logger.warning("The cache is unreachable; reading the source's record", exc_info=True)
        return source_stats_read(source_id=source_id)
    if stats is None:
        stats = source_stats_read(source_id=source_id)
        try:
            cache.set(key, stats, ttl)
        except Exception:
            logger.warning("The cache is unreachable; not keeping the source's record")
    return stats


def sources_stats_read(*, at: datetime.datetime | None = None) -> dict[int, SourceStats]:
    """Every source's stats at once, by source id (one grouped aggregate query)."""
    since, until = _window(at)
    rows = (
        Lead.objects.filter(received_at__range=(since, until))
        .order_by()
        .values("source_id")
        .annotate(**_record_aggregates())
    )
    records = {row.pop("source_id"): SourceRecord(**row) for row in rows}
    overall = SourceRecord(
        leads=sum(record.leads for record in records.values()),
        contacted=sum(record.contacted for record in records.values()),
        sold=sum(record.sold for record in records.values()),
    )
    return {
        source_id: SourceStats(source=record, overall=overall)
        for source_id, record in records.items()
    }


def _relative(rate: float, overall: float) -> float:
    return (rate - overall) / overall if overall else 0.0


def source_history_points(*, stats: SourceStats, points: int) -> int | None:
    """The source's record in points, or None while it has too few leads to be weighed.

    How much better or worse than all sources' its rates are, relatively (a contact rate of
    60% against 50% is +0.2; a sale rate of 0% against 5% is -1), averaged over the contact
    and the sale rate, clamped to ±1 and times `points`, rounded.
    """
    if stats.source.leads < SOURCE_HISTORY_MIN_LEADS:
        return None
    edge = (
        _relative(stats.source.contact_rate, stats.overall.contact_rate)
        + _relative(stats.source.sale_rate, stats.overall.sale_rate)
    ) / 2
    return round(max(-1.0, min(1.0, edge)) * points)


def leads_inbound_channels(*, lead_ids: Iterable[int]) -> dict[int, set[str]]:
    """The channels each lead has contacted the business on (texts, emails, calls)."""
    found: dict[int, set[str]] = {}
    rows = (
        ContactAttempt.objects.filter(lead_id__in=list(lead_ids), direction=Direction.INBOUND)
        .order_by()
        .values_list("lead_id", "channel")
        .distinct()
    )
    for lead_id, channel in rows:
        found.setdefault(lead_id, set()).add(channel)
    return found


def leads_consent_channels(*, lead_ids: Iterable[int]) -> dict[int, set[str]]:
    """The channels each lead's consents in force cover."""
    found: dict[int, set[str]] = {}
    rows = ConsentRecord.objects.filter(
        lead_id__in=list(lead_ids), revoked_at__isnull=True
    ).values_list("lead_id", "channels")
    for lead_id, channels in rows:
        found.setdefault(lead_id, set()).update(channels)
    return found


def lead_score(
    *,
    lead: Lead,
    consent_channels: set[str],
    weights: Mapping[str, Weight] | None = None,
    source_stats: SourceStats | None = None,
    inbound_channels: set[str] | None = None,
) -> Score:
    """Return the lead's score and the factors it is the sum of.

    Reads what it is not given: the weights (one query), the source's record (one or two)
    and the channels the lead contacted the business on (one, for a stored lead).
    """
    if weights is None:
        weights = factor_weights()
    factors: list[tuple[str, int]] = []

    def add(key: str, label: str | None = None) -> None:
        if (weight := weights.get(key)) is not None:
            factors.append((label or weight.label, weight.points))

    add("base")
    add(f"phone_{lead.phone_type}")
    if lead.email:
        add("has_email")
    if lead.first_name and lead.last_name:
        add("full_name")
    if lead.street and lead.zip_code:
        add("street_address")
    for channel in sorted(consent_channels & set(Channel.values)):
        add(f"consent_{channel}")
    if lead.is_exclusive:
        add("exclusive")
    if lead.product:
        add(product_factor_key(lead.product))
    if (weight := weights.get("source_history")) is not None:
        stats = source_stats or source_stats_cached(source_id=lead.source_id)
        points = source_history_points(stats=stats, points=weight.points)
        if points is not None:
            rates = f"contact {stats.source.contact_rate:.0%}, sales {stats.source.sale_rate:.0%}"
            factors.append((f"{weight.label} ({rates})", points))
    if inbound_channels is None:
        inbound_channels = (
            leads_inbound_channels(lead_ids=[lead.pk]).get(lead.pk, set()) if lead.pk else set()
        )
    if inbound_channels & REPLY_CHANNELS:
        add("engaged_replied")
    if Channel.CALL in inbound_channels:
        add("engaged_called_back")
    # engaged_opened waits for open tracking: `extra` is what the source sent, not what the
    # lead did, so an "email_opened" there is not counted.
    for flag in lead.quality_flags:
        add("quality_flag", flag.replace("_", " "))
    if lead.duplicate_of_id:
        add("duplicate")
    total = sum(points for _, points in factors)
    return Score(total=max(0, min(100, total)), factors=factors)


def _rescored(lead: Lead, score: Score) -> bool:
    """Give the lead this score; True if it differs from the one it had."""
    stored = score.as_stored()
    if lead.score == score.total and lead.score_factors == stored:
        return False
    lead.score, lead.score_factors = score.total, stored
    return True


def lead_rescore(*, lead: Lead) -> Score:
    """Score the lead anew from what is known of it now (after a call, a reply, a change of
    status) and save the score with its factors when they changed, recording why.

    The caller refreshes an open lead's place in the queue, which depends on the score.
    """
    score = lead_score(
        lead=lead, consent_channels=leads_consent_channels(lead_ids=[lead.pk]).get(lead.pk, set())
    )
    if _rescored(lead, score):
        lead._change_reason = RESCORED
        lead.save(update_fields=["score", "score_factors", "updated_at"])
    return score


def leads_rescore(
    *,
    leads: QuerySet,
    user=None,
    progress: Callable[..., None] | None = None,
) -> int:
    """Rescore these leads, RESCORE_CHUNK at a time by primary key; return how many.

    The weights and every source's record are read once. Each chunk is read locked, scored,
    and the leads whose score changed saved with their history (by `user`, "Rescored"), in
    one transaction; then `progress(rescored=<the changed leads>, done=, total=)` is called
    in it, so the caller can refresh their places in the queue (and first with done=0).
    """
    weights = factor_weights()
    stats = sources_stats_read() if "source_history" in weights else {}
    total = leads.count()
    if progress:
        progress(rescored=[], done=0, total=total)
    done, last_pk = 0, 0
    while True:
        with transaction.atomic():
            chunk = list(
                leads.filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update(of=("self",))[:RESCORE_CHUNK]
            )
            if not chunk:
                break
            ids = [lead.pk for lead in chunk]
            consents = leads_consent_channels(lead_ids=ids)
            inbound = leads_inbound_channels(lead_ids=ids)
            now = timezone.now()
            changed = []
            for lead in chunk:
                score = lead_score(
                    lead=lead,
                    consent_channels=consents.get(lead.pk, set()),
                    weights=weights,
                    source_stats=stats.get(lead.source_id, NO_STATS),
                    inbound_channels=inbound.get(lead.pk, set()),
                )
                if _rescored(lead, score):
                    lead.updated_at = now
                    changed.append(lead)
            if changed:
                bulk_update_with_history(
                    changed,
                    Lead,
                    ["score", "score_factors", "updated_at"],
                    default_user=user,
                    default_change_reason=RESCORED,
                )
            done += len(chunk)
            last_pk = chunk[-1].pk
            if progress:
                progress(rescored=changed, done=done, total=total)
    return done


def leads_rescore_enqueue(*, lead_ids: list[int] | None, user=None) -> str:
    """Queue the rescore of these leads (None: every open lead); return the job's id.

    Queued on commit, by name: the job module calls this one, not the reverse.
    """
    job_id = f"{RESCORE_JOB_PREFIX}{uuid.uuid4().hex}"
    rq_queue("default").enqueue(
        RESCORE_JOB,
        lead_ids,
        user.pk if user is not None else None,
        job_id=job_id,
        job_timeout=RESCORE_TIMEOUT_SECONDS,
        result_ttl=RESCORE_KEPT_SECONDS,
        failure_ttl=RESCORE_KEPT_SECONDS,
    )
    return job_id


@dataclass(frozen=True)
class RescoreProgress:
    status: str  # queued, started, finished, failed (RQ's job statuses)
    done: int
    total: int | None  # None until the job has counted the leads
    changed: int | None  # how many scores changed, once finished

    @property
    def is_over(self) -> bool:
        return self.status in ("finished", "failed", "stopped", "canceled")

    @property
    def percent_done(self) -> int:
        if self.status == "finished":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


def rescore_progress(*, job_id: str) -> RescoreProgress | None:
    """How a queued rescore is going, from its job's progress; None for no such rescore."""
    if not job_id.startswith(RESCORE_JOB_PREFIX):
        return None
    job = rq_queue("default").fetch_job(job_id)
    if job is None:
        return None
    progress = job.meta.get("progress", {})
    status = JobStatus(job.get_status(refresh=False)).value
    result = job.return_value() if status == JobStatus.FINISHED else None
    return RescoreProgress(
        status=status,
        done=progress.get("done", 0),
        total=progress.get("total"),
        changed=result.get("changed") if isinstance(result, dict) else None,
    )


def score_breakdown(*, lead: Lead) -> str:
    """Return the lead's stored factors as one line, e.g. "40 base, +15 mobile phone"."""
    parts = [
        f"{points} {label}" if index == 0 else f"{points:+d} {label}"
        for index, (label, points) in enumerate(lead.score_factors)
    ]
    return ", ".join(parts)
