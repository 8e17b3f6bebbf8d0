"""CSV imports: a vendor's file, mapped column by column, through the same intake as the API.

Good rows are imported; each bad row is written to a downloadable error file with its line
number, field and reason. The file is streamed in chunks, so memory stays flat.
"""

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from django.core.files.base import ContentFile, File
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from compliance.models import CaptureMethod
from crm.queues import rq_queue
from leads.intake.payload import CONSENT_FIELDS
from leads.intake.service import DUPLICATE, REJECTED, leads_accept, leads_check, leads_store
from leads.models import ImportRun, ImportStatus, LeadSource

CHUNK_ROWS = 1000
IMPORT_JOB = "leads.jobs.run_import"
IMPORT_TIMEOUT_SECONDS = 3 * 3600
IMPORT = CaptureMethod.IMPORT
LEAD_FIELDS = (
    "source_lead_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "zip",
    "product",
    "campaign",
    "price",
    "exclusive",
    *(f"consent_{name}" for name in CONSENT_FIELDS),
)
REQUIRED_FIELDS = ("source_lead_id", "phone")
# Common vendor header names for our fields.
ALIASES = {
    "lead_id": "source_lead_id",
    "id": "source_lead_id",
    "phone_number": "phone",
    "mobile": "phone",
    "email_address": "email",
    "zip_code": "zip",
    "postal_code": "zip",
    "address": "street",
    "firstname": "first_name",
    "lastname": "last_name",
    "trustedform_cert_url": "consent_trustedform_cert_url",
    "jornaya_leadid": "consent_jornaya_leadid",
    "leadid_token": "consent_jornaya_leadid",
    "sub_id": "campaign",
    "subid": "campaign",
    "campaign_id": "campaign",
    "lead_price": "price",
    "cost": "price",
}


class ImportRefused(Exception):
    """The file or its mapping cannot be imported at all."""


def _header_key(column: str) -> str:
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def mapping_suggest(*, columns: list[str], remembered: dict[str, str]) -> dict[str, str]:
    """Suggest field -> column: the source's last mapping where it fits, else header names."""
    suggestion = {field: col for field, col in remembered.items() if col in columns}
    for column in columns:
        key = _header_key(column)
        field = key if key in LEAD_FIELDS else ALIASES.get(key)
        if field and field not in suggestion:
            suggestion[field] = column
    return suggestion


def mapping_problems(*, mapping: dict[str, str], columns: list[str]) -> list[str]:
    problems = [
        f"{field} must be mapped to a column."
        for field in REQUIRED_FIELDS
        if not mapping.get(field)
    ]
    problems += [
        f"{field}: the file has no column {column!r}."
        for field, column in mapping.items()
        if column and column not in columns
    ]
    problems += [f"{field} is not a lead field." for field in mapping if field not in LEAD_FIELDS]
    return problems


def _text_stream(file) -> io.TextIOWrapper:
    file.open("rb")
    return io.TextIOWrapper(file, encoding="utf-8-sig", newline="", errors="replace")


def _header(file) -> list[str]:
    stream = _text_stream(file)
    try:
        header = next(csv.reader(stream), None)
    except csv.Error as error:
        raise ImportRefused(f"The file is not a readable CSV: {error}") from error
    finally:
        stream.detach()
    if not header or not any(column.strip() for column in header):
        raise ImportRefused("The file is empty or has no header row.")
    return [column.strip() for column in header]


@transaction.atomic
def import_create(*, source: LeadSource, upload: File, user=None) -> ImportRun:
    """Store an uploaded CSV and read its header; the mapping comes next."""
    run = ImportRun(source=source, original_name=getattr(upload, "name", "") or "", created_by=user)
    run.file.save(run.original_name or "leads.csv", upload, save=False)
    run.columns = _header(run.file)
    run.save()
    return run


@transaction.atomic
def import_start(*, run: ImportRun, mapping: dict[str, str]) -> ImportRun:
    """Fix the mapping, remember it for the source, and queue the import job."""
    mapping = {field: column for field, column in mapping.items() if column}
    problems = mapping_problems(mapping=mapping, columns=run.columns)
    if problems:
        raise ImportRefused(" ".join(problems))
    run.column_mapping = mapping
    run.status = ImportStatus.QUEUED
    run.save(update_fields=["column_mapping", "status"])
    LeadSource.objects.filter(pk=run.source_id).update(csv_column_mapping=mapping)
    transaction.on_commit(lambda: import_enqueue(run_id=run.pk))
    return run


def import_enqueue(*, run_id: int) -> None:
    """Queue the import job (by name: the job module calls this one, not the reverse)."""
    rq_queue("imports").enqueue(
        IMPORT_JOB, run_id, job_id=f"import-{run_id}", job_timeout=IMPORT_TIMEOUT_SECONDS
    )


def _rows(run: ImportRun) -> Iterator[tuple[int, dict]]:
    """Yield (line number, payload) for each data row."""
    stream = _text_stream(run.file)
    reader = csv.reader(stream)
    header = [column.strip() for column in next(reader)]
    position = {column: index for index, column in enumerate(header)}
    mapped_columns = set(run.column_mapping.values())
    extras = [
        (index, column) for index, column in enumerate(header) if column not in mapped_columns
    ]
    line = reader.line_num
    try:
        for row in reader:
            first_line, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            payload = {
                field: row[position[column]] if position[column] < len(row) else ""
                for field, column in run.column_mapping.items()
            }
            for index, column in extras:
                if index < len(row) and row[index].strip():
                    payload[f"extra_{column}"] = row[index]
            yield first_line, payload
    finally:
        stream.detach()


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_lines(run: ImportRun) -> int:
    run.file.open("rb")
    lines = sum(block.count(b"\n") for block in iter(lambda: run.file.read(1 << 20), b""))
    return max(0, lines - 1)


def import_run(*, run: ImportRun, progress=None) -> ImportRun:
    """Import every row; record counts as it goes and the bad rows in an error file."""
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.RUNNING, started_at=timezone.now(), rows_total=_count_lines(run)
    )
    errors = io.StringIO()
    error_writer = csv.writer(errors)
    error_writer.writerow(["line", "source_lead_id", "field", "reason"])

    def record(chunk: list, results: list) -> None:
        counts = {"accepted": 0, "duplicates": 0, "replays": 0, "rejected": 0}
        for (line, payload), result in zip(chunk, results, strict=True):
            if result.status == REJECTED:
                counts["rejected"] += 1
                for field, messages in result.errors.items():
                    for message in messages:
                        error_writer.writerow(
                            [line, payload.get("source_lead_id", ""), field, message]
                        )
            elif result.replay:
                counts["replays"] += 1
            elif result.status == DUPLICATE:
                counts["duplicates"] += 1
            else:
                counts["accepted"] += 1
        ImportRun.objects.filter(pk=run.pk).update(
            rows_done=F("rows_done") + len(chunk),
            **{name: F(name) + count for name, count in counts.items()},
        )
        if progress:
            progress(run.pk)

    try:
        _accept_chunks(run.source, _chunks(_rows(run), CHUNK_ROWS), record)
    except (csv.Error, UnicodeError) as error:
        return _import_finish(run, errors, ImportStatus.FAILED, f"Stopped: {error}")
    return _import_finish(run, errors, ImportStatus.FINISHED, "")


def _accept_chunks(source: LeadSource, chunks: Iterator[list], record) -> None:
    """Accept each chunk of (line, payload) rows; call record(chunk, results) in file order.

    Checking rows is Python's work and storing them mostly waiting for PostgreSQL, so a
    second thread stores each chunk while the next one is checked. It stores one chunk at a
    time, in file order, on its own database connection.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # A second connection could not see this one's uncommitted rows (or SQLite's writer
        # would lock it out): store as we go.
        for chunk in chunks:
            payloads = [payload for _, payload in chunk]
            record(chunk, leads_accept(source=source, payloads=payloads, capture_method=IMPORT))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-store") as storer:
        pending = None
        try:
            for chunk in chunks:
                checked = leads_check(
                    source=source,
                    payloads=[payload for _, payload in chunk],
                    capture_method=IMPORT,
                )
                if pending is not None:
                    record(pending[0], pending[1].result())
                pending = (chunk, storer.submit(leads_store, checked=checked))
        finally:
            # Stored chunks are recorded even when reading the file fails part way.
            if pending is not None:
                record(pending[0], pending[1].result())
            storer.submit(connections.close_all).result()


def _import_finish(run: ImportRun, errors: io.StringIO, status: str, message: str) -> ImportRun:
    run.refresh_from_db()
    if run.rejected:
        name = f"import-{run.pk}-errors.csv"
        run.error_file.save(name, ContentFile(errors.getvalue().encode()), save=False)
    run.status = status
    run.message = message
    run.rows_total = run.rows_done
    run.finished_at = timezone.now()
    run.save(update_fields=["error_file", "status", "message", "rows_total", "finished_at"])
    return run
