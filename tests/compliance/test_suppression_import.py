"""Bulk import of suppressions, through the admin as a manager."""

import datetime
import html
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance import jobs, suppressions
from compliance.gate import decide
from compliance.models import Suppression
from compliance.suppressions import suppressions_import_upload
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory, SuppressionFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:compliance_suppression_import")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/New_York"))

# Four good addresses, a repeat, three bad lines and a blank one.
MIXED = (
    "2025550123\n"
    "(305) 555-0111\n"
    "Ann@Example.COM\n"
    "not a number\n"
    "\n"
    "bob@\n"
    "+1 713-555-0112\n"
    "2025550123\n"
    "Lee, 305.555.0111\n"
)
MIXED_BAD_LINES = {
    4: "phone: 'not a number' is not a valid US phone number.",
    6: "email: 'bob@' is not a valid email address",
    9: "line: put one phone number or email address on each line",
}


@pytest.fixture(autouse=True)
def in_process(settings, tmp_path):
    settings.TASKS_IN_PROCESS = True
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def upload(manager_client, django_capture_on_commit_callbacks):
    """Post a file to the import form; return the result page it leads to."""

    def post(text: str, *, name="optouts.txt", reason="Complaints list", scope="all"):
        file = SimpleUploadedFile(name, text.encode())
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(
                IMPORT_URL, {"file": file, "reason": reason, "scope": scope}
            )
        assert response.status_code == 302, response.content.decode()
        return manager_client.get(response["Location"])

    return post


def _entries() -> dict[str, tuple[str, str]]:
    """Each entry's phone or email, with its scope and reason."""
    return {
        str(entry.phone or entry.email): (entry.channel_scope, entry.reason)
        for entry in Suppression.objects.all()
    }


def _bad_lines(page) -> list[tuple[int, str]]:
    return [tuple(bad) for bad in page.context["state"]["outcome"]["bad_lines"]]


def test_the_changelist_offers_the_import_to_a_manager(manager_client):
    changelist = manager_client.get(reverse("admin:compliance_suppression_changelist"))

    assert IMPORT_URL in changelist.content.decode()
    assert manager_client.get(IMPORT_URL).status_code == 200


def test_a_file_with_bad_lines_imports_the_others_and_lists_the_bad(upload, manager):
    page = upload(MIXED)

    assert _entries() == {
        "+12025550123": ("all", "Complaints list"),
        "+13055550111": ("all", "Complaints list"),
        "ann@example.com": ("all", "Complaints list"),
        "+17135550112": ("all", "Complaints list"),
    }
    assert set(Suppression.objects.values_list("origin", "recorded_by")) == {("import", manager.pk)}
    assert Suppression.history.filter(history_user=manager, history_type="+").count() == 4
    outcome = page.context["state"]["outcome"]
    assert (outcome["imported"], outcome["skipped"], outcome["bad"]) == (4, 1, 3)
    bad_lines = _bad_lines(page)
    assert [line for line, _ in bad_lines] == list(MIXED_BAD_LINES)
    for line, problem in bad_lines:
        assert problem.startswith(MIXED_BAD_LINES[line])
    text = html.unescape(page.content.decode())
    assert "Uploaded optouts.txt; this page shows how its import goes." in text
    assert "'not a number' is not a valid US phone number." in text
    assert 'http-equiv="refresh"' not in text


def test_a_csv_gives_phone_email_scope_and_reason_per_row(upload):
    page = upload(
        "Email,Phone,Scope,Reason\n"
        ",2025550123,call,Asked on a call\n"
        "carl@example.com,,,\n"
        "dee@example.com,3055550111,SMS,\n"
        ",,,\n"
        "eve@example.com,,fax,\n"
        ",12345,,\n",
        name="optouts.csv",
        reason="Partner list",
        scope="email",
    )

    assert _entries() == {
        "+12025550123": ("call", "Partner list; Asked on a call"),
        "carl@example.com": ("email", "Partner list"),
        "dee@example.com": ("sms", "Partner list"),
        "+13055550111": ("sms", "Partner list"),
    }
    assert [line for line, _ in _bad_lines(page)] == [6, 7]
    assert "'fax' is not a scope (all, call, sms, email)." in _bad_lines(page)[0][1]


def test_entries_already_on_the_list_with_that_scope_are_skipped_and_kept(upload):
    stop = SuppressionFactory(phone="+12025550123", channel_scope="all")
    email_only = SuppressionFactory(phone="", email="ann@example.com", channel_scope="email")

    first = upload("2025550123\nann@example.com\n3055550111\n3055550111\n")
    again = upload("(202) 555-0123\nANN@example.com\n3055550111\n")

    assert first.context["state"]["outcome"]["imported"] == 2
    assert first.context["state"]["outcome"]["skipped"] == 2
    assert again.context["state"]["outcome"]["imported"] == 0
    assert again.context["state"]["outcome"]["skipped"] == 3
    assert Suppression.objects.filter(phone="+12025550123").get() == stop
    stop.refresh_from_db()
    assert (stop.origin, stop.reason) == ("sms_keyword", 'Replied "STOP"')
    assert set(
        Suppression.objects.filter(email="ann@example.com").values_list("channel_scope", "origin")
    ) == {("email", email_only.origin), ("all", "import")}
    assert Suppression.objects.filter(phone="+13055550111").count() == 1


def test_a_large_file_is_stored_in_batches_and_repeats_across_them_are_skipped(upload, monkeypatch):
    monkeypatch.setattr(suppressions, "IMPORT_BATCH_ROWS", 2)
    stored = []
    store = suppressions._suppressions_store
    monkeypatch.setattr(
        suppressions,
        "_suppressions_store",
        lambda batch, *args, **kwargs: stored.append(len(batch)) or store(batch, *args, **kwargs),
    )

    page = upload("2025550123\n3055550111\n7135550112\n2025550123\n3055550111\n")

    assert stored == [2, 2, 1]
    outcome = page.context["state"]["outcome"]
    assert (outcome["imported"], outcome["skipped"]) == (3, 2)
    assert Suppression.objects.count() == 3


def test_the_gate_blocks_an_imported_number(upload, settings):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    received = MONDAY_10AM - datetime.timedelta(days=1)
    lead = LeadFactory(phone="+13055550100", received_at=received)
    ConsentRecordFactory(lead=lead, captured_at=received)
    assert decide(lead, "call", MONDAY_10AM, automated=False).allowed

    upload("(305) 555-0100\n")

    decision = decide(lead, "call", MONDAY_10AM, automated=False)
    assert not decision.allowed
    assert decision.codes[0] == "opted_out"
    assert "imported from a file by a manager" in decision.reasons[0].message
    assert lead.consents.get().revoked_at is not None


def test_a_csv_that_cannot_be_read_to_the_end_keeps_the_lines_before(upload):
    page = upload(f'phone\n2025550123\n"{"x" * 200_000}"\n3055550111\n', name="broken.csv")

    outcome = page.context["state"]["outcome"]
    assert outcome["imported"] == 1
    assert outcome["stopped"].startswith("Stopped at line 3: field larger than field limit")
    assert "The lines before it were imported." in page.content.decode()


def test_the_form_needs_a_reason(manager_client):
    file = SimpleUploadedFile("optouts.txt", b"2025550123\n")

    page = manager_client.post(IMPORT_URL, {"file": file, "reason": "", "scope": "all"})

    assert page.status_code == 200
    assert "This field is required." in page.content.decode()
    assert not Suppression.objects.exists()


def test_a_failed_import_says_why(upload, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(jobs, "suppressions_import", fail)

    page = upload("2025550123\n")

    assert "The import failed: RuntimeError: the disk is full" in page.content.decode()


def test_an_unknown_import_is_not_found(manager_client):
    url = reverse(
        "admin:compliance_suppression_import_result",
        args=["8a6e0804-2bd0-4672-b79d-d97027f23b46"],
    )

    assert manager_client.get(url).status_code == 404


def test_a_rep_cannot_import(rep_client):
    file = SimpleUploadedFile("optouts.txt", b"2025550123\n")

    response = rep_client.post(IMPORT_URL, {"file": file, "reason": "Mine", "scope": "all"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not Suppression.objects.exists()


def test_staff_who_may_only_view_the_list_cannot_import(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_suppression"))
    client.force_login(viewer)
    file = SimpleUploadedFile("optouts.txt", b"2025550123\n")

    changelist = client.get(reverse("admin:compliance_suppression_changelist"))
    response = client.post(IMPORT_URL, {"file": file, "reason": "Mine", "scope": "all"})

    assert changelist.status_code == 200
    assert IMPORT_URL not in changelist.content.decode()
    assert response.status_code == 403
    assert not Suppression.objects.exists()


def test_suppression_import_job_runs_on_a_real_rq_worker(
    settings, manager, django_capture_on_commit_callbacks
):
    from rq import SimpleWorker

    from crm.queues import rq_queue

    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    settings.TASKS_IN_PROCESS = False
    file = SimpleUploadedFile("optouts.txt", MIXED.encode())
    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        import_id = suppressions_import_upload(upload=file, reason="List", recorded_by=manager)
    assert jobs.suppressions_import_state(import_id)["status"] == "queued"
    queue = rq_queue("imports")

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    state = jobs.suppressions_import_state(import_id)
    assert state["status"] == "finished"
    assert (state["outcome"]["imported"], state["outcome"]["bad"]) == (4, 3)
    assert state["file_name"] == "optouts.txt"
    assert Suppression.objects.count() == 4
    queue.fetch_job(f"suppression-import-{import_id}").delete()
