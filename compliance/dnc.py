"""Do Not Call lists: importing a copy of a list, and which copies are in force.

A copy holds millions of numbers, so the import streams the file, normalises each line on a
fast path (US numbers only), and inserts in chunks: PostgreSQL COPY into a temporary table
then one de-duplicating INSERT per chunk, elsewhere `bulk_create`. A finished copy replaces
the older copy of the same list in one transaction, so the gate never sees both or neither.
"""

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from compliance.gate import registry_read
from compliance.models import DncList, DncListKind, DncListStatus, DncNumber
from crm.queues import rq_queue
from leads.choices import USState

CHUNK_ROWS = 100_000  # numbers per insert, and how often the admin sees progress
DELETE_BATCH = 50_000
UPLOAD_DIR = "dnc"
DNC_IMPORT_JOB = "compliance.jobs.run_dnc_import"
DNC_IMPORT_TIMEOUT_SECONDS = 6 * 3600  # the full national registry is hundreds of millions of lines
_NOT_DIGITS = str.maketrans("", "", " \t\r\n()-.+\"'")
_EXCHANGE_FIRST = frozenset("23456789")


class DncImportFailed(Exception):
    """The file cannot become a Do Not Call list."""


@dataclass(frozen=True)
class DncImportOutcome:
    dnc_list: DncList
    replaced: list[DncList] = field(default_factory=list)
    superseded_by: DncList | None = None  # a newer copy already in force


def dnc_list_problems(*, kind: str, state: str, list_date: datetime.date) -> dict[str, str]:
    """Return what is wrong with these details of a list copy, by field."""
    problems = {}
    if kind not in DncListKind.values:
        problems["kind"] = f"{kind!r} is not a kind of list ({', '.join(DncListKind.values)})."
    elif kind == DncListKind.STATE and not state:
        problems["state"] = "A state list needs its state."
    elif kind == DncListKind.NATIONAL and state:
        problems["state"] = "The national list has no state."
    if state and state not in USState.values:
        problems["state"] = f"{state!r} is not a US state code."
    # A date in the future would make a stale copy look fresh; allow a day for time zones.
    if list_date > timezone.now().date() + datetime.timedelta(days=1):
        problems["list_date"] = f"{list_date:%Y-%m-%d} is in the future."
    return problems


def dnc_list_create(
    *, kind: str, state: str, list_date: datetime.date, file_name: str, imported_by=None
) -> DncList:
    """Record a copy of a list about to be imported."""
    problems = dnc_list_problems(kind=kind, state=state, list_date=list_date)
    if problems:
        raise ValidationError(problems)
    return DncList.objects.create(
        kind=kind,
        state=state,
        list_date=list_date,
        file_name=file_name[:255],
        imported_by=imported_by,
    )


@transaction.atomic
def dnc_list_upload(
    *, kind: str, state: str, list_date: datetime.date, upload, imported_by=None
) -> DncList:
    """Store an uploaded copy under MEDIA_ROOT/dnc/ and queue its import after commit."""
    dnc_list = dnc_list_create(
        kind=kind,
        state=state,
        list_date=list_date,
        file_name=upload.name or "",
        imported_by=imported_by,
    )
    wanted = default_storage.generate_filename(
        f"{UPLOAD_DIR}/{dnc_list.pk}-{upload.name or 'list.txt'}"
    )
    name = default_storage.save(wanted, upload)
    path = default_storage.path(name)
    transaction.on_commit(lambda: dnc_import_enqueue(dnc_list=dnc_list, path=path))
    return dnc_list


def dnc_import_enqueue(*, dnc_list: DncList, path) -> None:
    """Queue the import of a stored file into its list (by name: the job calls this module)."""
    rq_queue("imports").enqueue(
        DNC_IMPORT_JOB,
        dnc_list.pk,
        str(path),
        job_id=f"dnc-import-{dnc_list.pk}",
        job_timeout=DNC_IMPORT_TIMEOUT_SECONDS,
    )


def phone_from_line(line: str) -> str | None:
    """Return the E.164 number on one line of a list file, or None when it holds none.

    A line is a number ("2025550123", "(202) 555-0123", "+12025550123"), the registry's
    "area code,number" ("202,5550123"), or a CSV row whose first phone-like cell is the number.
    Only US numbers (NXX-NXX-XXXX) are accepted: that is what the lists hold.
    """
    cells = line.split(",")
    if len(cells) > 1:
        area_code = cells[0].translate(_NOT_DIGITS)
        if len(area_code) == 3 and area_code.isascii() and area_code.isdigit():
            joined = area_code + cells[1].translate(_NOT_DIGITS)
            if len(joined) == 10 and joined.isascii() and joined.isdigit():
                return _us_e164(joined)
    for cell in cells:
        digits = cell.translate(_NOT_DIGITS)
        if 10 <= len(digits) <= 11 and digits.isascii() and digits.isdigit():
            return _us_e164(digits)
    return None


def _us_e164(digits: str) -> str | None:
    """Return +1 and the ten ASCII digits of a US number, or None."""
    if len(digits) == 11:
        if digits[0] != "1":
            return None
        digits = digits[1:]
    if len(digits) == 10 and digits[0] in _EXCHANGE_FIRST and digits[3] in _EXCHANGE_FIRST:
        return "+1" + digits
    return None


def _numbers_in(path: Path, rejected: list[int]) -> Iterator[list[str]]:
    """Yield chunks of the numbers in a file; count lines that hold none in rejected[0]."""
    chunk: list[str] = []
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        seen_content = False
        for line in lines:
            if not line.strip():
                continue
            phone = phone_from_line(line)
            if phone is None:
                # A first line without a digit is a header, not a bad number.
                if seen_content or any(char.isdigit() for char in line):
                    rejected[0] += 1
            else:
                chunk.append(phone)
            seen_content = True
            if len(chunk) == CHUNK_ROWS:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _temp_table(dnc_list: DncList) -> str:
    return f"dnc_import_{dnc_list.pk}"


def _insert_with_copy(dnc_list: DncList, phones: list[str]) -> int:
    """COPY a chunk into the session's temporary table; move its new numbers to the list."""
    numbers = connection.ops.quote_name(DncNumber._meta.db_table)
    temp = _temp_table(dnc_list)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (phone varchar(16))")
        with cursor.copy(f"COPY {temp} (phone) FROM STDIN") as copy:
            for phone in phones:
                copy.write_row((phone,))
        cursor.execute(
            f"INSERT INTO {numbers} (dnc_list_id, phone) "
            f"SELECT DISTINCT %s::bigint, phone FROM {temp} ON CONFLICT DO NOTHING",
            (dnc_list.pk,),
        )
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {temp}")
    return inserted


def _insert_with_orm(dnc_list: DncList, phones: list[str]) -> int:
    stored = DncNumber.objects.filter(dnc_list=dnc_list)
    before = stored.count()
    DncNumber.objects.bulk_create(
        (DncNumber(dnc_list=dnc_list, phone=phone) for phone in set(phones)),
        batch_size=5000,
        ignore_conflicts=True,
    )
    return stored.count() - before


def _numbers_delete(dnc_list: DncList) -> None:
    """Delete a copy's numbers in batches, each its own short transaction."""
    numbers = DncNumber.objects.filter(dnc_list=dnc_list)
    while DncNumber.objects.filter(pk__in=numbers.values("pk")[:DELETE_BATCH]).delete()[0]:
        pass


def dnc_list_import(
    *, dnc_list: DncList, path, progress: Callable[[DncList], None] | None = None
) -> DncImportOutcome:
    """Import a file of numbers into a copy of a list, then put the copy in force.

    Every valid number is imported once; lines without one are counted in rejected_count.
    On any error the copy is marked failed with the error, its numbers are removed, and the
    error is raised again.
    """
    if dnc_list.status != DncListStatus.IMPORTING:
        raise DncImportFailed(f"{dnc_list} is {dnc_list.get_status_display().lower()}.")
    insert = _insert_with_copy if connection.vendor == "postgresql" else _insert_with_orm
    try:
        _numbers_delete(dnc_list)  # a retried job starts again from a clean copy
        numbers, rejected = 0, [0]
        for chunk in _numbers_in(Path(path), rejected):
            with transaction.atomic():
                numbers += insert(dnc_list, chunk)
            dnc_list.number_count, dnc_list.rejected_count = numbers, rejected[0]
            dnc_list.save(update_fields=["number_count", "rejected_count"])
            if progress:
                progress(dnc_list)
        dnc_list.number_count, dnc_list.rejected_count = numbers, rejected[0]
        if not numbers:
            raise DncImportFailed(
                f"The file holds no valid US phone numbers ({rejected[0]:,} lines rejected)."
            )
        outcome = _put_in_force(dnc_list)
    except Exception as error:
        dnc_list.status = DncListStatus.FAILED
        dnc_list.error = str(error) or type(error).__name__
        dnc_list.finished_at = timezone.now()
        dnc_list.save(
            update_fields=["status", "error", "finished_at", "number_count", "rejected_count"]
        )
        _numbers_delete(dnc_list)
        raise
    finally:
        if connection.vendor == "postgresql" and connection.connection is not None:
            with connection.connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {_temp_table(dnc_list)}")
    for old in outcome.replaced:
        _numbers_delete(old)
    if outcome.superseded_by:
        _numbers_delete(dnc_list)
    return outcome


@transaction.atomic
def _put_in_force(dnc_list: DncList) -> DncImportOutcome:
    """Make this copy the one in force and retire the older, unless a newer one is in force."""
    # Lock every copy of this list still importing or in force, so two imports finishing
    # together are put in force one after the other.
    copies = list(
        DncList.objects.select_for_update()
        .filter(kind=dnc_list.kind, state=dnc_list.state)
        .filter(status__in=[DncListStatus.IMPORTING, DncListStatus.READY])
        .order_by("pk")
    )
    in_force = [copy for copy in copies if copy.status == DncListStatus.READY]
    newer = [copy for copy in in_force if copy.list_date > dnc_list.list_date]
    dnc_list.finished_at = timezone.now()
    fields = ["status", "finished_at", "number_count", "rejected_count"]
    if newer:
        dnc_list.status = DncListStatus.REPLACED
        dnc_list.save(update_fields=fields)
        return DncImportOutcome(dnc_list, superseded_by=max(newer, key=lambda c: c.list_date))
    DncList.objects.filter(pk__in=[copy.pk for copy in in_force]).update(
        status=DncListStatus.REPLACED
    )
    dnc_list.status = DncListStatus.READY
    dnc_list.save(update_fields=fields)
    for copy in in_force:
        copy.status = DncListStatus.REPLACED
    return DncImportOutcome(dnc_list, replaced=in_force)


def dnc_lists_in_force() -> dict:
    """Return {"national": the copy in force or None, "states": {state: copy in force}}."""
    in_force: dict = {"national": None, "states": {}}
    ready = DncList.objects.filter(status=DncListStatus.READY).order_by("-list_date", "-pk")
    for dnc_list in ready:
        if dnc_list.kind == DncListKind.NATIONAL:
            in_force["national"] = in_force["national"] or dnc_list
        else:
            in_force["states"].setdefault(dnc_list.state, dnc_list)
    return in_force


def dnc_listed(*, phone: str, states: Iterable[str]) -> list[DncList]:
    """Return the copies in force, national and of these states, that list this E.164 phone."""
    return list(
        DncList.objects.filter(numbers__phone=phone, status=DncListStatus.READY)
        .filter(Q(kind=DncListKind.NATIONAL) | Q(kind=DncListKind.STATE, state__in=list(states)))
        .order_by("kind", "state")
    )


def national_registry_is_fresh(*, at: datetime.datetime) -> bool:
    """Say whether the national copy in force is recent enough to call on at this instant."""
    return registry_read().is_fresh(at)
