"""Feedback exports: one row per lead of a source that had a feedback event in a time range.

The rows come from one query (the source's leads with an event in the range, aggregated per
lead with their conversions and latest return) read in chunks, so an export streams in
constant memory; the same lines feed the API's streamed answer and the prepared files.
"""

import csv
import datetime
import json
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import CharField, Func, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from crm.queues import rq_queue
from leads.models import (
    FeedbackEvent,
    FeedbackFile,
    FeedbackFileStatus,
    Lead,
    LeadReturn,
    LeadSource,
)

logger = logging.getLogger(__name__)

UTC = datetime.UTC
FORMATS = ("csv", "json")
COLUMNS = (
    "source_lead_id",
    "received_at",
    "status",
    "contacted",
    "contacted_at",
    "appointment_at",
    "sold_at",
    "revenue",
    "return_reason",
    "return_status",
)
CHUNK_ROWS = 5000  # rows fetched per round trip, and joined into one piece of the answer
FILE_JOB = "leads.feedback.jobs.prepare_feedback_file"
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class UtcText(Func):
    """An instant as ISO 8601 text in UTC to the second (2026-11-03T15:30:00Z), written by
    the database: parsing a million timestamps into Python only to write them out again was
    half of an export's time."""

    output_field = CharField()
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps instants as UTC text already. The percent signs stay doubled in the
        # SQL (the template halves them once): Django's cursors, the debug cursor that
        # DEBUG turns on among them, read a single one as a parameter.
        template = "strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)"
        return self.as_sql(compiler, connection, template=template, **extra)


def feedback_rows_query(*, source: LeadSource, since, until) -> QuerySet:
    """Return the one query of an export: per lead of this source with an event in
    [since, until), its first contact (any conversion: an appointment or a sale means the
    person was reached), first appointment, first sale, sales' revenue and latest return."""
    with_events = FeedbackEvent.objects.filter(
        source=source, occurred_at__gte=since, occurred_at__lt=until
    ).values("lead_id")
    # One lookup of the latest return per lead: "reason status" (neither has a space).
    latest_return = (
        LeadReturn.objects.filter(lead=OuterRef("pk"))
        .order_by("-requested_at", "-id")
        .values(both=Concat("reason", Value(" "), "status", output_field=CharField()))[:1]
    )
    occurred = "conversions__occurred_at"
    return (
        Lead.objects.filter(source=source, pk__in=with_events)
        .annotate(
            received=UtcText("received_at"),
            contacted_at=UtcText(Min(occurred)),
            appointment_at=UtcText(Min(occurred, filter=Q(conversions__kind="appointment"))),
            sold_at=UtcText(Min(occurred, filter=Q(conversions__kind="sale"))),
            revenue=Sum("conversions__revenue", filter=Q(conversions__kind="sale")),
            latest_return=Subquery(latest_return),
        )
        .order_by("pk")
        .values_list(
            "source_lead_id",
            "received",
            "status",
            "contacted_at",
            "appointment_at",
            "sold_at",
            "revenue",
            "latest_return",
        )
    )


def rows_estimate(*, source: LeadSource, since, until) -> int:
    """Count the source's events in the range (on their index): at least the rows."""
    return FeedbackEvent.objects.filter(
        source=source, occurred_at__gte=since, occurred_at__lt=until
    ).count()


def feedback_records(*, source: LeadSource, since, until) -> Iterator[tuple]:
    """Yield each row of the export as a tuple in the order of COLUMNS, read in chunks."""
    shares_revenue = source.shares_revenue
    rows = feedback_rows_query(source=source, since=since, until=until)
    # In a transaction, PostgreSQL's cursor needs no WITH HOLD: rows come as the query makes
    # them, while this process writes the earlier ones, instead of after the whole query.
    with transaction.atomic():
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            lead_id, received, status, contacted, appointment, sold, revenue, returned = row
            reason, _, return_status = returned.partition(" ") if returned else (None, "", None)
            revenue = None if not shares_revenue or revenue is None else f"{Decimal(revenue):.2f}"
            yield (
                lead_id,
                received,
                status,
                contacted is not None,
                contacted,
                appointment,
                sold,
                revenue,
                reason,
                return_status,
            )


class _Line:
    """A file-like object csv.writer writes to: each write is handed back as a string."""

    def write(self, value: str) -> str:
        return value


def feedback_chunks(
    *,
    source: LeadSource,
    since,
    until,
    format: str,
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield the export as text, a chunk of CHUNK_ROWS rows at a time (CSV with a header
    row, or one JSON array)."""
    records = feedback_records(source=source, since=since, until=until)
    writer = csv.writer(_Line())
    parts = [writer.writerow(COLUMNS)] if format == "csv" else ["["]
    done = 0
    for record in records:
        if format == "csv":
            contacted = "true" if record[3] else "false"
            parts.append(writer.writerow((*record[:3], contacted, *record[4:])))
        else:
            separator = "\n" if done == 0 else ",\n"
            parts.append(separator + json.dumps(dict(zip(COLUMNS, record, strict=True))))
        done += 1
        if len(parts) >= CHUNK_ROWS:
            yield "".join(parts)
            parts = []
            if progress is not None:
                progress(done)
    if format == "json":
        parts.append("\n]\n" if done else "]\n")
    yield "".join(parts)
    if progress is not None:
        progress(done)


def fits_in_one_answer(*, source: LeadSource, since, until) -> bool:
    """Say whether the range is small enough to stream within the web server's timeout."""
    return (
        rows_estimate(source=source, since=since, until=until) <= settings.FEEDBACK_STREAM_MAX_ROWS
    )


def _file_job_enqueue(feedback_file: FeedbackFile) -> None:
    """Queue the job preparing this file (django-rq sends it when the transaction commits)."""
    job_id = f"feedback-file-{feedback_file.pk}-{uuid.uuid4().hex[:8]}"
    FeedbackFile.objects.filter(pk=feedback_file.pk).update(job_id=job_id)
    # By name: the job module imports this one.
    rq_queue("exports").enqueue(FILE_JOB, feedback_file.pk, job_id=job_id)


@transaction.atomic
def feedback_file_request(*, source: LeadSource, since, until, format: str) -> FeedbackFile:
    """Queue the export of a range as a file an RQ job prepares; return its row. The same
    range asked again within a day gets the file already made or being made."""
    asked_before = FeedbackFile.objects.filter(
        source=source,
        since=since,
        until=until,
        format=format,
        is_daily=False,
        status__in=[FeedbackFileStatus.PREPARING, FeedbackFileStatus.READY],
        created_at__gte=timezone.now() - datetime.timedelta(days=1),
    ).first()
    if asked_before is not None:
        return asked_before
    feedback_file = FeedbackFile.objects.create(
        source=source, since=since, until=until, format=format
    )
    _file_job_enqueue(feedback_file)
    return feedback_file


def feedback_file_write(
    *, feedback_file: FeedbackFile, progress: Callable[..., None] | None = None
) -> FeedbackFile:
    """Write the file's export to default storage and mark it ready (failed on an error)."""
    source, since, until = feedback_file.source, feedback_file.since, feedback_file.until
    total = rows_estimate(source=source, since=since, until=until)
    rows = 0

    def counted(done: int) -> None:
        nonlocal rows
        rows = done
        if progress is not None:
            progress(done=done, total=max(total, done))

    try:
        with tempfile.TemporaryFile() as spool:
            for chunk in feedback_chunks(
                source=source,
                since=since,
                until=until,
                format=feedback_file.format,
                progress=counted,
            ):
                spool.write(chunk.encode())
            spool.seek(0)
            name = f"{source.slug}/{feedback_file_name(feedback_file)}"
            feedback_file.file.save(name, File(spool), save=False)
    except Exception:
        FeedbackFile.objects.filter(pk=feedback_file.pk).update(
            status=FeedbackFileStatus.FAILED, finished_at=timezone.now()
        )
        raise
    feedback_file.status = FeedbackFileStatus.READY
    feedback_file.rows = rows
    feedback_file.finished_at = timezone.now()
    feedback_file.save(update_fields=["file", "status", "rows", "finished_at"])
    return feedback_file


def feedback_file_name(feedback_file: FeedbackFile) -> str:
    """Return the name a source downloads the file as."""
    since = feedback_file.since.astimezone(UTC)
    until = feedback_file.until.astimezone(UTC)
    if feedback_file.is_daily:
        span = f"{since:%Y-%m-%d}"
    else:
        span = f"{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}"
    return f"feedback-{span}-{feedback_file.pk}.{feedback_file.format}"


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """Return the UTC instants a day starts and ends at."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=UTC)
    return start, start + datetime.timedelta(days=1)


def feedback_daily_files_request(*, day: datetime.date | None = None) -> int:
    """Queue yesterday's (UTC) file for each source with feedback that day, once each;
    return how many were queued. Daily files left preparing for an hour (a lost job) are
    queued again."""
    day = day or timezone.now().astimezone(UTC).date() - datetime.timedelta(days=1)
    since, until = day_bounds(day)
    queued = 0
    # One indexed probe per source: the sources are few, their events many.
    for source in LeadSource.objects.only("pk", "slug"):
        if not FeedbackEvent.objects.filter(
            source=source, occurred_at__gte=since, occurred_at__lt=until
        ).exists():
            continue
        try:
            with transaction.atomic():
                feedback_file = FeedbackFile.objects.create(
                    source=source, since=since, until=until, format="csv", is_daily=True
                )
                _file_job_enqueue(feedback_file)
        except IntegrityError:
            continue  # made before: feedback_file_one_daily
        queued += 1
    stale = FeedbackFile.objects.filter(
        is_daily=True,
        status=FeedbackFileStatus.PREPARING,
        created_at__lt=timezone.now() - datetime.timedelta(hours=1),
    )
    for feedback_file in stale:
        logger.warning("Daily feedback file %s was still preparing: queued again", feedback_file.pk)
        with transaction.atomic():
            _file_job_enqueue(feedback_file)
    return queued
