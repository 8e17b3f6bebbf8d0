"""Opt-outs: recording them one by one or a file at a time, and what they revoke.

Entries are never deleted or changed.
"""

import csv
import datetime
import uuid
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from celery import current_app
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber
from simple_history.utils import bulk_create_with_history

from compliance.models import (
    ConsentRecord,
    RevocationMeans,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)
from crm.queues import rq_queue
from leads.normalize import InvalidField, normalize_email, normalize_phone

IMPORT_BATCH_ROWS = 2000  # addresses checked and stored per transaction
BAD_LINES_KEPT = 100  # the first bad lines a manager sees; the rest are only counted
UPLOAD_DIR = "suppressions"
# Queued by name (compliance calls no later stage of leads): an opt-out stops the cadences
# of the leads it covers.
CADENCES_STOP_TASK = "leads.tasks.stop_cadences_for_addresses"
# Queued by name: the jobs module calls this one, not the reverse.
SUPPRESSIONS_IMPORT_JOB = "compliance.jobs.run_suppressions_import"
SUPPRESSIONS_IMPORT_TIMEOUT_SECONDS = 3 * 3600
# How long the result page of an import can be read after it finishes.
SUPPRESSIONS_IMPORT_RESULT_TTL_SECONDS = 7 * 24 * 3600
# Column names a file may use, after lowercasing and turning spaces and dashes into "_".
IMPORT_COLUMNS = {
    "phone": "phone",
    "phone_number": "phone",
    "email": "email",
    "email_address": "email",
    "scope": "scope",
    "channel_scope": "scope",
    "reason": "reason",
}
_IMPORT_LOCK = zlib.crc32(b"compliance.suppressions_import")

REVOCATION_MEANS = {
    SuppressionOrigin.SMS_KEYWORD: RevocationMeans.SMS_KEYWORD,
    SuppressionOrigin.REP: RevocationMeans.VERBAL,
    SuppressionOrigin.EMAIL_UNSUBSCRIBE: RevocationMeans.EMAIL,
    SuppressionOrigin.API: RevocationMeans.API,
    SuppressionOrigin.MANAGER: RevocationMeans.WEB,
    SuppressionOrigin.DNC_LIST: RevocationMeans.WEB,
    SuppressionOrigin.IMPORT: RevocationMeans.WEB,
}


def _consents_of(*, phone: str, email: str):
    return _consents_of_any(
        phones=[phone] if phone else [], emails=[email.strip().lower()] if email else []
    )


def _consents_of_any(*, phones: Collection[str], emails: Collection[str]):
    return ConsentRecord.objects.filter(
        Q(lead__phone__in=phones) | Q(lead__email__in=emails), revoked_at__isnull=True
    )


def _revoke(consents, *, at: datetime.datetime, means: str, reason: str) -> int:
    revoked = 0
    for consent in consents.select_for_update():
        consent.revoked_at, consent.revocation_means = at, means
        consent._change_reason = reason
        consent.save(update_fields=["revoked_at", "revocation_means"])
        revoked += 1
    return revoked


# What a rep can record in one click when a lead asks to stop: (field, scope, reason).
STOP_REQUESTS = {
    "verbal": ("phone", SuppressionScope.CALL, 'Said "stop calling me" on a call'),
    "email_reply": ("email", SuppressionScope.EMAIL, "Asked to stop in an email reply"),
}


def stop_request_record(*, lead, kind: str, recorded_by) -> Suppression | None:
    """Record a lead's request to stop, said on a call or written in an email reply.

    Returns None when the lead has no phone (or email) for the request to cover.
    """
    field_name, scope, reason = STOP_REQUESTS[kind]
    address = str(getattr(lead, field_name) or "")
    if not address:
        return None
    return suppression_add(
        origin=SuppressionOrigin.REP,
        scope=scope,
        reason=reason,
        lead=lead,
        recorded_by=recorded_by,
        **{field_name: address},
    )


@transaction.atomic
def suppression_add(
    *,
    origin: str,
    phone: str = "",
    email: str = "",
    scope: str = SuppressionScope.ALL,
    reason: str = "",
    lead=None,
    recorded_by=None,
    received_at: datetime.datetime | None = None,
) -> Suppression:
    """Record an opt-out and revoke the consent it covers, both from this moment.

    An opt-out on one channel ends marketing on every channel of this business (the gate
    reads any suppression of the lead's phone or email), and the law's 10 business days are
    a maximum, not a delay to use (47 CFR 64.1200(a)(10)).
    """
    received_at = received_at or timezone.now()
    suppression = Suppression.objects.create(
        phone=phone,
        email=email,
        channel_scope=scope,
        origin=origin,
        reason=reason,
        lead=lead,
        recorded_by=recorded_by,
        received_at=received_at,
    )
    means = REVOCATION_MEANS.get(origin, RevocationMeans.WEB)
    _revoke(
        _consents_of(phone=phone, email=email),
        at=received_at,
        means=means,
        reason=f"Opt-out: {suppression.get_origin_display()}",
    )
    _cadences_stop_queue(phones=[str(phone)], emails=[email], reason="The lead opted out.")
    return suppression


def _cadences_stop_queue(*, phones: list[str], emails: list[str], reason: str) -> None:
    """Have the leads' cadences stopped once this transaction commits."""
    phones, emails = [p for p in phones if p], [e for e in emails if e]
    if not phones and not emails:
        return
    transaction.on_commit(
        lambda: current_app.signature(CADENCES_STOP_TASK, args=[phones, emails, reason]).delay(),
        robust=True,
    )


@transaction.atomic
def consent_reassigned_record(*, phone: str, reassigned_on: datetime.date) -> int:
    """Revoke consent given for this number before it was reassigned to someone else.

    A "yes" from the Reassigned Numbers Database (number disconnected after the consent
    date) means the consent came from a previous holder of the number (47 CFR 64.1200(m)).
    Returns how many consent records it revoked.
    """
    cutoff = datetime.datetime.combine(reassigned_on, datetime.time.min, tzinfo=datetime.UTC)
    consents = _consents_of(phone=phone, email="").filter(captured_at__lt=cutoff)
    return _revoke(
        consents,
        at=timezone.now(),
        means=RevocationMeans.REASSIGNED,
        reason=f"Number reassigned on {reassigned_on:%Y-%m-%d}",
    )


class SuppressionImportStopped(Exception):
    """The rest of the file cannot be read."""


@dataclass
class SuppressionImportOutcome:
    imported: int = 0
    skipped: int = 0  # already on the list with that scope, or repeated in the file
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, problem), the first
    stopped: str = ""  # why the rest of the file was not read, if it was not

    def bad_line(self, line: int, problem: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < BAD_LINES_KEPT:
            self.bad_lines.append((line, problem))


@dataclass(frozen=True)
class _Address:
    """One phone number or email address a line asks to suppress."""

    kind: str  # "phone" or "email"
    value: str  # E.164 or the lowercased address
    scope: str
    reason: str
    number: PhoneNumber | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.value, self.scope)


def suppressions_import_upload(
    *, upload, reason: str, scope: str = SuppressionScope.ALL, recorded_by=None
) -> str:
    """Store an uploaded file under MEDIA_ROOT/suppressions/ and queue its import after commit.

    Returns the import's id, which names its job.
    """
    if scope not in SuppressionScope.values:
        raise ValueError(f"{scope!r} is not a suppression scope.")
    import_id = str(uuid.uuid4())
    file_name = upload.name or "suppressions.txt"
    wanted = default_storage.generate_filename(f"{UPLOAD_DIR}/{import_id}-{file_name}")
    path = default_storage.path(default_storage.save(wanted, upload))
    recorded_by_id = recorded_by.pk if recorded_by else None
    transaction.on_commit(
        lambda: rq_queue("imports").enqueue(
            SUPPRESSIONS_IMPORT_JOB,
            args=(str(path),),
            kwargs={"reason": reason, "scope": scope, "recorded_by_id": recorded_by_id},
            job_id=suppressions_import_job_id(import_id),
            job_timeout=SUPPRESSIONS_IMPORT_TIMEOUT_SECONDS,
            result_ttl=SUPPRESSIONS_IMPORT_RESULT_TTL_SECONDS,
            meta={"file_name": file_name},
        )
    )
    return import_id


def suppressions_import_job_id(import_id: str) -> str:
    return f"suppression-import-{import_id}"


def suppressions_import(
    *,
    path,
    reason: str,
    recorded_by=None,
    scope: str = SuppressionScope.ALL,
    origin: str = SuppressionOrigin.IMPORT,
    progress: Callable[[SuppressionImportOutcome], None] | None = None,
) -> SuppressionImportOutcome:
    """Add every phone number and email address in a file to the suppression list.

    The file holds one number or address per line, or is a CSV whose header names a `phone`
    and/or an `email` column, optionally `scope` (which replaces `scope` for that row) and
    `reason` (added to `reason`). A line that cannot be read is counted and reported, and
    the others are imported. An address already on the list with the same scope is skipped:
    existing entries are never changed. The file is streamed and stored in batches, each in
    its own transaction, so memory stays flat and a retried job skips what an earlier run
    stored.
    """
    outcome = SuppressionImportOutcome()
    batch: list[_Address] = []
    try:
        for line, row in _import_rows(Path(path)):
            try:
                batch += _addresses_on(row, scope=scope, reason=reason)
            except InvalidField as error:
                outcome.bad_line(line, str(error))
            if len(batch) >= IMPORT_BATCH_ROWS:
                _suppressions_store(batch, outcome, origin=origin, recorded_by=recorded_by)
                batch = []
                if progress:
                    progress(outcome)
    except SuppressionImportStopped as error:
        outcome.stopped = str(error)
    _suppressions_store(batch, outcome, origin=origin, recorded_by=recorded_by)
    return outcome


def _import_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, {"phone"/"email"/"scope"/"reason": text}) for each non-blank line."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        first = next((line for line in stream if line.strip()), "")
        stream.seek(0)
        columns = _import_columns(first)
        if columns:
            yield from _csv_rows(stream, columns)
        else:
            yield from _plain_rows(stream)


def _import_columns(first_line: str) -> list[str | None] | None:
    """Return the field of each column when the line is a header naming phone or email."""
    cells = next(csv.reader([first_line]), [])
    columns = [
        IMPORT_COLUMNS.get(cell.strip().lower().replace(" ", "_").replace("-", "_"))
        for cell in cells
    ]
    return columns if {"phone", "email"} & set(columns) else None


def _csv_rows(stream, columns: list[str | None]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(stream)
    line, header_seen = 0, False
    try:
        for cells in reader:
            first_line, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not header_seen:
                header_seen = True
                continue
            yield (
                first_line,
                {name: cell for name, cell in zip(columns, cells, strict=False) if name},
            )
    except csv.Error as error:
        raise SuppressionImportStopped(f"Stopped at line {line + 1}: {error}") from error


def _plain_rows(stream) -> Iterator[tuple[int, dict[str, str]]]:
    for line, text in enumerate(stream, start=1):
        value = text.strip().strip("\"'").strip()
        if value:
            yield line, {"address": value}


def _addresses_on(row: dict[str, str], *, scope: str, reason: str) -> list[_Address]:
    """Return what one line asks to suppress; raise InvalidField naming what is wrong."""
    if "address" in row:  # a line of a plain list
        if "," in row["address"]:
            raise InvalidField(
                "line",
                "put one phone number or email address on each line, or give the CSV a "
                "header row naming its phone and email columns.",
            )
        row = {"email" if "@" in row["address"] else "phone": row["address"]}
    row_scope = row.get("scope", "").strip().lower()
    if row_scope and row_scope not in SuppressionScope.values:
        raise InvalidField(
            "scope",
            f"{row_scope[:20]!r} is not a scope ({', '.join(SuppressionScope.values)}).",
        )
    scope = row_scope or scope
    reason = "; ".join(part for part in (reason.strip(), row.get("reason", "").strip()) if part)
    reason = reason[: Suppression._meta.get_field("reason").max_length]
    addresses = []
    if row.get("phone", "").strip():
        phone = normalize_phone(row["phone"])
        addresses.append(_Address("phone", phone.e164, scope, reason, phone.number))
    if row.get("email", "").strip():
        addresses.append(_Address("email", normalize_email(row["email"]), scope, reason))
    if not addresses:
        raise InvalidField("line", "it has no phone number or email address.")
    return addresses


def _suppressions_store(
    addresses: list[_Address], outcome: SuppressionImportOutcome, *, origin: str, recorded_by
) -> None:
    """Store the addresses not yet on the list with that scope, and revoke their consents."""
    if not addresses:
        return
    with transaction.atomic():
        _lock_imports()
        known = _suppressed_keys(addresses)
        new: dict[tuple[str, str, str], _Address] = {}
        for address in addresses:
            if address.key in known or address.key in new:
                outcome.skipped += 1
            else:
                new[address.key] = address
        if not new:
            return
        received_at = timezone.now()
        bulk_create_with_history(
            [
                Suppression(
                    phone=address.number or "",
                    email=address.value if address.kind == "email" else "",
                    channel_scope=address.scope,
                    origin=origin,
                    reason=address.reason,
                    recorded_by=recorded_by,
                    received_at=received_at,
                )
                for address in new.values()
            ],
            Suppression,
            batch_size=500,
            default_user=recorded_by,
            default_change_reason="Imported from a file",
        )
        _revoke(
            _consents_of_any(
                phones=[a.value for a in new.values() if a.kind == "phone"],
                emails=[a.value for a in new.values() if a.kind == "email"],
            ),
            at=received_at,
            means=REVOCATION_MEANS.get(origin, RevocationMeans.WEB),
            reason=f"Opt-out: {SuppressionOrigin(origin).label}",
        )
        _cadences_stop_queue(
            phones=[a.value for a in new.values() if a.kind == "phone"],
            emails=[a.value for a in new.values() if a.kind == "email"],
            reason="The lead opted out (a list of opt-outs was imported).",
        )
        outcome.imported += len(new)


def _lock_imports() -> None:
    """Let one import at a time check and store, so overlapping files add an address once.

    SQLite needs no lock: its transactions here begin IMMEDIATE and so already run one at a
    time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])


def _suppressed_keys(addresses: list[_Address]) -> set[tuple[str, str, str]]:
    """Return (kind, value, scope) of the entries already on the list for these addresses."""
    # The validated numbers, not their text: the field would parse and validate text again.
    numbers = {address.value: address.number for address in addresses if address.number}
    emails = {address.value for address in addresses if address.kind == "email"}
    known = set()
    entries = Suppression.objects.filter(Q(phone__in=list(numbers.values())) | Q(email__in=emails))
    for phone, email, scope in entries.values_list("phone", "email", "channel_scope"):
        if phone and phone.as_e164 in numbers:
            known.add(("phone", phone.as_e164, scope))
        if email in emails:
            known.add(("email", email, scope))
    return known
