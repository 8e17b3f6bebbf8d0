"""The dashboard's figures, rolled up per UTC day by aggregate queries and upserted.

Each row counts the leads received that day (by source, campaign and exclusivity, or by
their rep) and what has come of them so far: a cohort, so cost per sale and rates are over
the leads bought. The clock rebuilds the last ROLLUP_REFRESH_DAYS every few minutes and
queues an RQ job rebuilding the last ROLLUP_NIGHTLY_DAYS once a night (late sales and
returns of older leads); a manager can rebuild any range from the dashboard (the same job).
Writers are never slowed by the rollups.
"""

import datetime
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.queues import rq_queue
from leads.models import (
    ContactAttempt,
    Conversion,
    Lead,
    LeadReturn,
    LeadSource,
    RepDayRollup,
    SourceDayRollup,
)
from leads.models.rollup import TIMING_BUCKETS
from leads.sources import MANUAL_SOURCE_SLUG

UTC = datetime.UTC
REBUILD_JOB = "leads.feedback.jobs.rebuild_rollups"
SPAN_DAYS = 7  # days rebuilt per transaction: small enough to report progress
ZERO = Decimal("0")
SOURCE_KEY = ("day", "source_id", "campaign", "is_exclusive")
REP_KEY = ("day", "rep_id")
SOURCE_FIELDS = (
    "leads",
    "spend",
    "duplicates",
    "returns",
    "credits",
    "attempted",
    "contacted",
    "appointments",
    "sales",
    "revenue",
    "first_attempt_minutes",
    "first_contact_minutes",
    "computed_at",
)
REP_FIELDS = (
    "leads",
    "attempts",
    "attempted",
    "contacted",
    "sales",
    "revenue",
    "first_attempt_minutes",
    "computed_at",
)


def _bucket_of(delay: str) -> Case:
    """The TIMING_BUCKETS bucket (its lower bound, in minutes) of an aliased delay."""
    whens = [
        When(**{f"{delay}__lt": datetime.timedelta(minutes=upper)}, then=Value(lower))
        for lower, upper in itertools.pairwise(TIMING_BUCKETS)
    ]
    return Case(*whens, default=Value(TIMING_BUCKETS[-1]), output_field=IntegerField())


def _delay(field: str, received: str = "received_at") -> ExpressionWrapper:
    return ExpressionWrapper(F(field) - F(received), output_field=DurationField())


def _spans(days: Iterable[datetime.date]) -> list[tuple[datetime.date, datetime.date]]:
    """Group days into runs of consecutive days, each at most SPAN_DAYS long: (first, last)."""
    spans: list[list[datetime.date]] = []
    for day in sorted(set(days)):
        follows = spans and day - spans[-1][-1] == datetime.timedelta(days=1)
        if follows and len(spans[-1]) < SPAN_DAYS:
            spans[-1].append(day)
            continue
        spans.append([day])
    return [(span[0], span[-1]) for span in spans]


def _received_in(first: datetime.date, last: datetime.date, prefix: str = "") -> Q:
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=UTC)
    end = datetime.datetime.combine(last, datetime.time.min, tzinfo=UTC)
    end += datetime.timedelta(days=1)
    return Q(**{f"{prefix}received_at__gte": start, f"{prefix}received_at__lt": end})


def _day(prefix: str = "") -> TruncDate:
    return TruncDate(f"{prefix}received_at", tzinfo=UTC)


def _histograms(leads, field: str, key: tuple[str, ...]) -> dict[tuple, dict[str, int]]:
    """Per key, leads per bucket of minutes from receipt to `field`."""
    rows = (
        leads.filter(**{f"{field}__isnull": False})
        .alias(delay=_delay(field))
        .annotate(day=_day(), bucket=_bucket_of("delay"))
        .values(*key, "bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict[tuple, dict[str, int]] = defaultdict(dict)
    for row in rows:
        found[tuple(row[name] for name in key)][str(row["bucket"])] = row["n"]
    return found


def _source_rows(first, last, run_at) -> list[SourceDayRollup]:
    manual = list(LeadSource.objects.filter(slug=MANUAL_SOURCE_SLUG).values_list("pk", flat=True))
    leads = Lead.objects.filter(_received_in(first, last))
    rows: dict[tuple, dict] = {}
    grouped = (
        leads.annotate(day=_day())
        .values(*SOURCE_KEY)
        .annotate(
            leads=Count("id"),
            # Leads a manager entered by hand were bought from nobody.
            spend=Sum("cost", filter=~Q(source_id__in=manual)),
            duplicates=Count("id", filter=Q(duplicate_of__isnull=False)),
            attempted=Count("id", filter=Q(first_attempt_at__isnull=False)),
        )
        .order_by()
    )
    for row in grouped:
        rows[tuple(row[name] for name in SOURCE_KEY)] = {
            "leads": row["leads"],
            "spend": row["spend"] or ZERO,
            "duplicates": row["duplicates"],
            "attempted": row["attempted"],
        }
    lead_key = tuple(f"lead__{name}" for name in SOURCE_KEY[1:])
    converted = (
        Conversion.objects.filter(_received_in(first, last, "lead__"))
        .annotate(day=_day("lead__"))
        .values("day", *lead_key)
        .annotate(
            # Any conversion means the person was reached.
            contacted=Count("lead_id", distinct=True),
            appointments=Count("lead_id", distinct=True, filter=Q(kind="appointment")),
            sales=Count("lead_id", distinct=True, filter=Q(kind="sale")),
            revenue=Sum("revenue", filter=Q(kind="sale")),
        )
        .order_by()
    )
    for row in converted:
        key = (row["day"], *(row[name] for name in lead_key))
        rows.setdefault(key, {}).update(
            contacted=row["contacted"],
            appointments=row["appointments"],
            sales=row["sales"],
            revenue=row["revenue"] or ZERO,
        )
    returned = (
        LeadReturn.objects.filter(_received_in(first, last, "lead__"))
        .exclude(status="rejected")
        .annotate(day=_day("lead__"))
        .values("day", *lead_key)
        .annotate(
            returns=Count("lead_id", distinct=True),
            credits=Sum("credit", filter=Q(status="accepted")),
        )
        .order_by()
    )
    for row in returned:
        key = (row["day"], *(row[name] for name in lead_key))
        rows.setdefault(key, {}).update(returns=row["returns"], credits=row["credits"] or ZERO)
    attempts = _histograms(leads, "first_attempt_at", SOURCE_KEY)
    contacts = _histograms(leads, "first_contact_at", SOURCE_KEY)
    return [
        SourceDayRollup(
            **dict(zip(SOURCE_KEY, key, strict=True)),
            **values,
            first_attempt_minutes=attempts.get(key, {}),
            first_contact_minutes=contacts.get(key, {}),
            computed_at=run_at,
        )
        for key, values in sorted(rows.items(), key=lambda item: (item[0][0], *item[0][1:]))
    ]


def _rep_rows(first, last, run_at) -> list[RepDayRollup]:
    leads = Lead.objects.filter(_received_in(first, last), owner__isnull=False)
    rows: dict[tuple, dict] = {}
    grouped = (
        leads.annotate(day=_day(), rep_id=F("owner_id"))
        .values(*REP_KEY)
        .annotate(
            leads=Count("id"), attempted=Count("id", filter=Q(first_attempt_at__isnull=False))
        )
        .order_by()
    )
    for row in grouped:
        rows[(row["day"], row["rep_id"])] = {"leads": row["leads"], "attempted": row["attempted"]}
    in_range = _received_in(first, last, "lead__")
    calls = (
        ContactAttempt.objects.filter(
            in_range, channel="call", direction="outbound", rep_id=F("lead__owner_id")
        )
        .annotate(day=_day("lead__"))
        .values("day", "rep_id")
        .annotate(attempts=Count("id"))
        .order_by()
    )
    for row in calls:
        rows.setdefault((row["day"], row["rep_id"]), {})["attempts"] = row["attempts"]
    converted = (
        Conversion.objects.filter(in_range, lead__owner__isnull=False)
        .annotate(day=_day("lead__"), rep_id=F("lead__owner_id"))
        .values(*REP_KEY)
        .annotate(
            contacted=Count("lead_id", distinct=True),
            sales=Count("lead_id", distinct=True, filter=Q(kind="sale")),
            revenue=Sum("revenue", filter=Q(kind="sale")),
        )
        .order_by()
    )
    for row in converted:
        rows.setdefault((row["day"], row["rep_id"]), {}).update(
            contacted=row["contacted"], sales=row["sales"], revenue=row["revenue"] or ZERO
        )
    attempts = _histograms(leads.annotate(rep_id=F("owner_id")), "first_attempt_at", REP_KEY)
    return [
        RepDayRollup(
            day=key[0],
            rep_id=key[1],
            **values,
            first_attempt_minutes=attempts.get(key, {}),
            computed_at=run_at,
        )
        for key, values in sorted(rows.items())
    ]


def _span_rebuild(first: datetime.date, last: datetime.date) -> int:
    run_at = timezone.now()
    source_rows = _source_rows(first, last, run_at)
    rep_rows = _rep_rows(first, last, run_at)
    with transaction.atomic():
        SourceDayRollup.objects.bulk_create(
            source_rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["day", "source", "campaign", "is_exclusive"],
            update_fields=SOURCE_FIELDS,
        )
        RepDayRollup.objects.bulk_create(
            rep_rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["day", "rep"],
            update_fields=REP_FIELDS,
        )
        # Keys with no leads left (a lead moved to another campaign, a rep, deleted).
        for model in (SourceDayRollup, RepDayRollup):
            model.objects.filter(day__gte=first, day__lte=last, computed_at__lt=run_at).delete()
    return len(source_rows) + len(rep_rows)


def rollups_rebuild(
    *, days: Iterable[datetime.date], progress: Callable[..., None] | None = None
) -> int:
    """Compute the figures of these UTC days afresh and store them; return the rows stored."""
    spans = _spans(days)
    total = sum((last - first).days + 1 for first, last in spans)
    done = written = 0
    for first, last in spans:
        written += _span_rebuild(first, last)
        done += (last - first).days + 1
        if progress is not None:
            progress(done=done, total=total)
    return written


def recent_days(count: int, *, today: datetime.date | None = None) -> list[datetime.date]:
    """Return the last `count` UTC days, today included."""
    today = today or timezone.now().astimezone(UTC).date()
    return [today - datetime.timedelta(days=n) for n in range(count)]


def rollups_refresh() -> int:
    """The clock: rebuild the last ROLLUP_REFRESH_DAYS days (a few seconds' work)."""
    return rollups_rebuild(days=recent_days(settings.ROLLUP_REFRESH_DAYS))


def rollups_rebuild_enqueue(*, first: datetime.date, last: datetime.date) -> None:
    """Queue the rebuild of these days (both included) as an RQ job: long work."""
    # By name: the job module imports this one.
    rq_queue("default").enqueue(REBUILD_JOB, first.isoformat(), last.isoformat())


def rollups_refresh_nightly() -> None:
    """The clock, nightly: queue the rebuild of the last ROLLUP_NIGHTLY_DAYS days, for late
    sales and returns of older leads."""
    days = recent_days(settings.ROLLUP_NIGHTLY_DAYS)
    rollups_rebuild_enqueue(first=min(days), last=max(days))
