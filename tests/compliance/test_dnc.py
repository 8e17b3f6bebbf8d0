import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from compliance import dnc
from compliance.dnc import (
    DncImportFailed,
    dnc_list_create,
    dnc_list_import,
    dnc_listed,
    dnc_lists_in_force,
    national_registry_is_fresh,
)
from compliance.models import DncList, DncListKind, DncListStatus, DncNumber
from tests.conftest import require_service
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NATIONAL, STATE = DncListKind.NATIONAL, DncListKind.STATE
OCT, NOV = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)

# Four distinct numbers, two duplicates, four bad lines, a header and a blank line.
GOOD_DUPLICATE_AND_BAD = (
    "phone\n"
    "2025550123\n"
    "(305) 555-0111\n"
    "+1 713-555-0112\n"
    "2025550123\n"
    "12025550199\n"
    "not a number\n"
    "1235550123\n"
    "2021550123\n"
    "555-0123\n"
    "\n"
    '"Lee, Ann",305.555.0111\n'
)
DISTINCT = {"+12025550123", "+13055550111", "+17135550112", "+12025550199"}


def _numbers(dnc_list: DncList) -> set[str]:
    return set(DncNumber.objects.filter(dnc_list=dnc_list).values_list("phone", flat=True))


def _import(tmp_path, text, *, kind=NATIONAL, state="", list_date=NOV):
    path = tmp_path / f"{kind}-{state}-{list_date}.txt"
    path.write_text(text)
    dnc_list = dnc_list_create(kind=kind, state=state, list_date=list_date, file_name=path.name)
    return dnc_list_import(dnc_list=dnc_list, path=path)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def in_process(settings):
    settings.TASKS_IN_PROCESS = True


def test_import_keeps_each_good_number_once_and_counts_bad_lines(tmp_path):
    outcome = _import(tmp_path, GOOD_DUPLICATE_AND_BAD)

    dnc_list = DncList.objects.get(pk=outcome.dnc_list.pk)
    assert dnc_list.status == DncListStatus.READY
    assert (dnc_list.number_count, dnc_list.rejected_count) == (4, 4)
    assert dnc_list.finished_at is not None
    assert _numbers(dnc_list) == DISTINCT


def test_duplicates_in_different_chunks_are_kept_once(tmp_path, monkeypatch):
    monkeypatch.setattr(dnc, "CHUNK_ROWS", 2)

    outcome = _import(tmp_path, GOOD_DUPLICATE_AND_BAD)

    assert outcome.dnc_list.number_count == 4
    assert _numbers(outcome.dnc_list) == DISTINCT


def test_registry_lines_of_area_code_and_number(tmp_path):
    outcome = _import(tmp_path, "202,5550123\n305,5550111\n713,555-0112\n202,1550123\n")

    assert _numbers(outcome.dnc_list) == {"+12025550123", "+13055550111", "+17135550112"}
    assert outcome.dnc_list.rejected_count == 1


def test_a_newer_copy_replaces_the_older_one(tmp_path):
    florida = _import(tmp_path, "3055550111\n", kind=STATE, state="FL", list_date=OCT).dnc_list
    old = _import(tmp_path, "2025550123\n3055550111\n", list_date=OCT).dnc_list

    outcome = _import(tmp_path, "3055550111\n7135550112\n", list_date=NOV)

    old.refresh_from_db()
    assert outcome.replaced == [old]
    assert old.status == DncListStatus.REPLACED
    assert old.number_count == 2  # kept as the record of that import
    assert _numbers(old) == set()
    assert outcome.dnc_list.status == DncListStatus.READY
    assert _numbers(outcome.dnc_list) == {"+13055550111", "+17135550112"}
    florida.refresh_from_db()
    assert florida.status == DncListStatus.READY
    assert _numbers(florida) == {"+13055550111"}


def test_an_older_copy_imported_late_does_not_replace_the_newer(tmp_path):
    newer = _import(tmp_path, "2025550123\n", list_date=NOV).dnc_list

    outcome = _import(tmp_path, "3055550111\n", list_date=OCT)

    newer.refresh_from_db()
    assert outcome.superseded_by == newer
    assert newer.status == DncListStatus.READY
    assert outcome.dnc_list.status == DncListStatus.REPLACED
    assert _numbers(outcome.dnc_list) == set()


def test_a_file_without_numbers_fails_and_the_copy_in_force_stays(tmp_path):
    in_force = _import(tmp_path, "2025550123\n", list_date=OCT).dnc_list

    with pytest.raises(DncImportFailed, match="no valid US phone numbers"):
        _import(tmp_path, "name,email\nAnn,ann@example.com\n", list_date=NOV)

    failed = DncList.objects.get(list_date=NOV)
    assert failed.status == DncListStatus.FAILED
    assert "no valid US phone numbers" in failed.error
    in_force.refresh_from_db()
    assert in_force.status == DncListStatus.READY


def test_an_unreadable_file_marks_the_list_failed(tmp_path):
    dnc_list = dnc_list_create(kind=NATIONAL, state="", list_date=NOV, file_name="gone.txt")

    with pytest.raises(FileNotFoundError):
        dnc_list_import(dnc_list=dnc_list, path=tmp_path / "gone.txt")

    dnc_list.refresh_from_db()
    assert dnc_list.status == DncListStatus.FAILED
    assert "gone.txt" in dnc_list.error


def test_dnc_listed_checks_the_national_list_and_the_candidate_states_lists(tmp_path):
    national = _import(tmp_path, "2025550123\n3055550100\n").dnc_list
    florida = _import(tmp_path, "3055550111\n3055550100\n", kind=STATE, state="FL").dnc_list
    _import(tmp_path, "7135550112\n", kind=STATE, state="TX")

    assert dnc_listed(phone="+12025550123", states=["FL"]) == [national]
    assert dnc_listed(phone="+13055550111", states=["GA", "FL"]) == [florida]
    assert dnc_listed(phone="+13055550100", states={"FL"}) == [national, florida]
    assert dnc_listed(phone="+17135550112", states=["FL"]) == []
    assert dnc_listed(phone="+13055550111", states=[]) == []


def test_replaced_copies_are_not_in_force(tmp_path):
    _import(tmp_path, "2025550123\n", list_date=OCT)
    newer = _import(tmp_path, "3055550111\n", list_date=NOV).dnc_list
    texas = _import(tmp_path, "7135550112\n", kind=STATE, state="TX").dnc_list

    assert dnc_listed(phone="+12025550123", states=[]) == []
    assert dnc_lists_in_force() == {"national": newer, "states": {"TX": texas}}


@pytest.mark.parametrize(("days", "fresh"), [(0, True), (31, True), (32, False)])
def test_the_national_copy_is_fresh_for_31_days(days, fresh):
    DncList.objects.create(kind=NATIONAL, list_date=OCT, status=DncListStatus.READY)
    at = datetime.datetime(2026, 10, 1, 23, 0, tzinfo=datetime.UTC) + datetime.timedelta(days)

    assert national_registry_is_fresh(at=at) is fresh


def test_no_national_copy_is_never_fresh():
    DncList.objects.create(kind=NATIONAL, list_date=OCT, status=DncListStatus.REPLACED)
    at = datetime.datetime(2026, 10, 2, tzinfo=datetime.UTC)

    assert national_registry_is_fresh(at=at) is False


def test_command_imports_and_says_what_it_replaced(tmp_path, capsys):
    older, newer = tmp_path / "october.txt", tmp_path / "november.txt"
    older.write_text("2025550123\n")
    newer.write_text(GOOD_DUPLICATE_AND_BAD)

    call_command("import_dnc", str(older), "--kind", "national", "--date", "2026-10-01")
    call_command("import_dnc", str(newer), "--kind", "national", "--date", "2026-11-01")

    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "Imported 4 numbers (4 rejected) into the national Do Not Call list of 2026-11-01; "
        "replaced the list of 2026-10-01."
    )
    assert DncList.objects.get(list_date=OCT).status == DncListStatus.REPLACED


def test_command_imports_a_state_list(tmp_path, capsys):
    path = tmp_path / "fl.csv"
    path.write_text("202,5550123\n")

    call_command(
        "import_dnc", str(path), "--kind", "state", "--state", "fl", "--date", "2026-11-01"
    )

    assert capsys.readouterr().out.strip() == (
        "Imported 1 numbers (0 rejected) into the Florida Do Not Call list of 2026-11-01."
    )
    assert DncList.objects.get().state == "FL"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "state", "--date", "2026-11-01"], "--state: A state list needs its state."),
        (
            ["--kind", "national", "--state", "FL", "--date", "2026-11-01"],
            "--state: The national list has no state.",
        ),
        (["--kind", "state", "--state", "ZZ", "--date", "2026-11-01"], "'ZZ' is not a US state"),
        (["--kind", "national", "--date", "2026-13-01"], "--date: '2026-13-01' is not a date"),
        (["--kind", "national", "--date", "2099-01-01"], "--date: 2099-01-01 is in the future"),
    ],
)
def test_command_names_what_is_wrong(tmp_path, args, message):
    path = tmp_path / "list.txt"
    path.write_text("2025550123\n")

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("import_dnc", str(path), *args)

    assert not DncList.objects.exists()


def test_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command(
            "import_dnc", str(tmp_path / "nope.txt"), "--kind", "national", "--date", "2026-11-01"
        )


def test_command_reports_a_failed_import(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("phone\n")

    with pytest.raises(CommandError, match="import failed: The file holds no valid"):
        call_command("import_dnc", str(path), "--kind", "national", "--date", "2026-11-01")

    assert DncList.objects.get().status == DncListStatus.FAILED


def test_manager_imports_a_list_in_the_admin_and_watches_it(
    media, in_process, admin_client, django_capture_on_commit_callbacks
):
    changelist = admin_client.get(reverse("admin:compliance_dnclist_changelist"))
    assert reverse("admin:compliance_dnclist_import") in changelist.content.decode()
    upload = SimpleUploadedFile("fl-nov.txt", GOOD_DUPLICATE_AND_BAD.encode())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:compliance_dnclist_import"),
            {"file": upload, "kind": "state", "state": "FL", "list_date": "2026-11-01"},
        )

    dnc_list = DncList.objects.get()
    assert response["Location"] == reverse("admin:compliance_dnclist_change", args=[dnc_list.pk])
    assert (dnc_list.status, dnc_list.number_count, dnc_list.rejected_count) == ("ready", 4, 4)
    assert dnc_list.imported_by.is_superuser
    assert [p.name for p in (media / "dnc").iterdir()] == [f"{dnc_list.pk}-fl-nov.txt"]
    page = admin_client.get(response["Location"]).content.decode()
    assert "In use" in page
    assert 'http-equiv="refresh"' not in page


def test_the_change_page_refreshes_while_importing(admin_client):
    dnc_list = DncList.objects.create(kind=NATIONAL, list_date=NOV)

    page = admin_client.get(reverse("admin:compliance_dnclist_change", args=[dnc_list.pk]))

    assert 'http-equiv="refresh"' in page.content.decode()


def test_the_import_form_names_what_is_wrong(media, admin_client):
    upload = SimpleUploadedFile("list.txt", b"2025550123\n")

    page = admin_client.post(
        reverse("admin:compliance_dnclist_import"),
        {"file": upload, "kind": "state", "state": "", "list_date": "2026-11-01"},
    )

    assert page.status_code == 200
    assert "A state list needs its state." in page.content.decode()
    assert not DncList.objects.exists()


def test_staff_without_the_add_permission_cannot_import(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_dnclist"))
    client.force_login(viewer)

    response = client.get(reverse("admin:compliance_dnclist_import"))

    assert response.status_code == 403


def test_a_manager_may_import(manager_client):
    assert manager_client.get(reverse("admin:compliance_dnclist_import")).status_code == 200


def test_the_changelist_warns_when_the_national_copy_is_stale(admin_client):
    DncList.objects.create(
        kind=NATIONAL, list_date=datetime.date(2026, 1, 5), status=DncListStatus.READY
    )

    page = admin_client.get(reverse("admin:compliance_dnclist_changelist")).content.decode()

    assert "older than 31 days" in page
    assert "No National Do Not Call Registry copy of the last 31 days is in use" in page


def test_dnc_import_job_runs_on_a_real_rq_worker(
    media, tmp_path, django_capture_on_commit_callbacks
):
    from django.conf import settings
    from rq import SimpleWorker

    from compliance.dnc import dnc_import_enqueue
    from crm.queues import rq_queue

    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    path = tmp_path / "list.txt"
    path.write_text(GOOD_DUPLICATE_AND_BAD)
    dnc_list = dnc_list_create(kind=NATIONAL, state="", list_date=NOV, file_name=path.name)
    queue = rq_queue("imports")
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        dnc_import_enqueue(dnc_list=dnc_list, path=str(path))

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    dnc_list.refresh_from_db()
    assert (dnc_list.status, dnc_list.number_count) == (DncListStatus.READY, 4)
    job = queue.fetch_job(f"dnc-import-{dnc_list.pk}")
    assert job.meta["progress"] == {"numbers": 4, "rejected": 4}
    job.delete()


def test_postgresql_imports_with_copy(tmp_path, monkeypatch):
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    copied = []
    copy_chunk = dnc._insert_with_copy

    def spy(dnc_list, phones):
        copied.append(len(phones))
        return copy_chunk(dnc_list, phones)

    monkeypatch.setattr(dnc, "_insert_with_copy", spy)
    monkeypatch.setattr(dnc, "CHUNK_ROWS", 3)

    outcome = _import(tmp_path, GOOD_DUPLICATE_AND_BAD)

    assert copied == [3, 3]
    assert outcome.dnc_list.number_count == 4
    assert _numbers(outcome.dnc_list) == DISTINCT
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"pg_temp.dnc_import_{outcome.dnc_list.pk}"])
        assert cursor.fetchone() == (None,)
