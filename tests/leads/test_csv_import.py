import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rq import SimpleWorker

from crm.queues import rq_queue
from leads.intake.csv_import import import_create, import_enqueue, import_start
from leads.models import ImportRun, ImportStatus, Lead
from tests.conftest import require_service

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = (
    "Lead ID,First Name,Last Name,Phone Number,Email,ZIP,State,Product,Campaign\n"
    "C1,Ann,Lee,3055550111,ann@example.com,33130,FL,solar,spring\n"
    "C2,Bob,Ray,notaphone,bob@example,33130,FL,solar,spring\n"
    '"C3","Cy, Jr",Oh,(713) 555-0112,,77002,,solar,"fall\nlate"\n'
    "\n"
    "C4,Di,Xu,7135550113,di@example.com,77002,FL,solar,fall\n"
    "C5,Ed,Fu,7135550114,ed@example.com,77002,TX,solar,fall\n"
)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def in_process(settings):
    settings.TASKS_IN_PROCESS = True


def _error_rows(run: ImportRun) -> list[dict]:
    with run.error_file.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode())))


# The command waits for the job, which is queued when the upload commits: real commits.
@pytest.mark.django_db(transaction=True)
def test_command_imports_good_rows_and_reports_bad_ones_by_line(
    media, in_process, source, tmp_path, capsys
):
    path = tmp_path / "vendor.csv"
    path.write_text(GOOD_AND_BAD)

    call_command("import_leads", str(path), "--source", source.slug)

    run = ImportRun.objects.get()
    assert run.status == ImportStatus.FINISHED
    assert (run.rows_done, run.accepted, run.rejected) == (5, 3, 2)
    assert set(Lead.objects.values_list("source_lead_id", flat=True)) == {"C1", "C3", "C5"}
    c3 = Lead.objects.get(source_lead_id="C3")
    # A "Campaign" column is the vendor's campaign, now a field of its own.
    assert (c3.first_name, c3.state, c3.campaign, c3.extra) == ("Cy, Jr", "TX", "fall\nlate", {})
    errors = _error_rows(run)
    assert {(row["line"], row["field"]) for row in errors} == {
        ("3", "phone"),
        ("3", "email"),
        ("7", "state"),
    }
    assert all(row["reason"] for row in errors)
    assert "3 accepted" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_importing_the_same_file_twice_adds_nothing(media, in_process, source, tmp_path):
    path = tmp_path / "vendor.csv"
    path.write_text(GOOD_AND_BAD)

    call_command("import_leads", str(path), "--source", source.slug)
    call_command("import_leads", str(path), "--source", source.slug)

    second = ImportRun.objects.order_by("-pk").first()
    assert (second.accepted, second.replays, second.rejected) == (0, 3, 2)
    assert Lead.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nope"], "no source with slug 'nope'"),
        (["--source", "SLUG", "--mapping", "{bad"], "--mapping: not JSON"),
        (["--source", "SLUG", "--mapping", '{"phone": "Nope"}'], "source_lead_id must be mapped"),
    ],
)
def test_command_names_what_is_wrong(media, source, tmp_path, args, message):
    path = tmp_path / "vendor.csv"
    path.write_text(GOOD_AND_BAD)
    args = [a.replace("SLUG", source.slug) for a in args]

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("import_leads", str(path), *args)


def test_empty_file_is_refused(media, source, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(CommandError, match="empty or has no header"):
        call_command("import_leads", str(path), "--source", source.slug)


def test_manager_uploads_maps_and_watches_an_import(
    media, in_process, admin_client, source, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("june.csv", GOOD_AND_BAD.encode(), content_type="text/csv")

    response = admin_client.post(
        reverse("admin:leads_importrun_add"), {"source": source.pk, "file": upload}
    )

    run = ImportRun.objects.get()
    assert response["Location"] == reverse("admin:leads_importrun_map", args=[run.pk])
    mapping_page = admin_client.get(response["Location"])
    form = mapping_page.context["form"]
    assert form.initial["phone"] == "Phone Number"
    assert form.initial["source_lead_id"] == "Lead ID"
    data = {field: form.initial.get(field, "") for field in form.fields}
    with django_capture_on_commit_callbacks(execute=True):
        started = admin_client.post(response["Location"], data)

    assert started["Location"] == reverse("admin:leads_importrun_change", args=[run.pk])
    page = admin_client.get(started["Location"]).content.decode()
    run.refresh_from_db()
    assert run.status == ImportStatus.FINISHED
    assert "Download the 2 rejected rows" in page
    download = admin_client.get(reverse("admin:leads_importrun_errors", args=[run.pk]))
    assert b"notaphone" in b"".join(download.streaming_content)
    source.refresh_from_db()
    assert source.csv_column_mapping["phone"] == "Phone Number"


def test_the_mapping_is_remembered_for_the_source(media, admin_client, source):
    source.csv_column_mapping = {"phone": "Cell", "source_lead_id": "Ref"}
    source.save()
    upload = SimpleUploadedFile("july.csv", b"Ref,Cell,Zip\n1,3055550100,33130\n")

    response = admin_client.post(
        reverse("admin:leads_importrun_add"), {"source": source.pk, "file": upload}
    )
    form = admin_client.get(response["Location"]).context["form"]

    assert (form.initial["phone"], form.initial["source_lead_id"]) == ("Cell", "Ref")
    assert form.initial["zip"] == "Zip"


def test_mapping_without_a_phone_column_is_refused(media, admin_client, source):
    upload = SimpleUploadedFile("x.csv", b"Ref,Name\n1,Ann\n")
    response = admin_client.post(
        reverse("admin:leads_importrun_add"), {"source": source.pk, "file": upload}
    )

    page = admin_client.post(response["Location"], {"source_lead_id": "Ref", "phone": ""})

    assert page.status_code == 200
    assert "This field is required" in page.content.decode()
    assert ImportRun.objects.get().status == ImportStatus.MAPPING


def test_import_job_runs_on_a_real_rq_worker(media, source, django_capture_on_commit_callbacks):
    from django.conf import settings

    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    upload = SimpleUploadedFile("redis.csv", GOOD_AND_BAD.encode())
    run = import_create(source=source, upload=upload)
    with django_capture_on_commit_callbacks(execute=False):
        import_start(
            run=run,
            mapping={"source_lead_id": "Lead ID", "phone": "Phone Number", "zip": "ZIP"},
        )
    queue = rq_queue("imports")
    with django_capture_on_commit_callbacks(execute=True):
        import_enqueue(run_id=run.pk)

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    run.refresh_from_db()
    assert run.status == ImportStatus.FINISHED
    assert run.accepted == 4  # without the state column, C4 is valid
    job = queue.fetch_job(f"import-{run.pk}")
    assert job.meta["progress"]["done"] == 5
    job.delete()
