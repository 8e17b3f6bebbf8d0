"""Sources download what became of their leads: exports equal the database, sources never see
each other's leads, large ranges become files an RQ job prepares, and the clock's daily file."""

import csv
import datetime
import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leads.feedback.exports import COLUMNS, feedback_daily_files_request
from leads.models import Conversion, FeedbackEvent, FeedbackFile, LeadReturn
from tests.conftest import require_service
from tests.factories import LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
SINCE = datetime.datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime.datetime(2026, 11, 8, tzinfo=UTC)
IN_RANGE = datetime.datetime(2026, 11, 3, 15, 30, tzinfo=UTC)
BEFORE = datetime.datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
AFTER = datetime.datetime(2026, 11, 9, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _event(lead, type_, at, **links):
    return FeedbackEvent.objects.create(
        source=lead.source, lead=lead, type=type_, occurred_at=at, payload={}, **links
    )


def _conversion(lead, kind, at, revenue=None):
    conversion = Conversion.objects.create(
        lead=lead, kind=kind, occurred_at=at, revenue=revenue, origin="admin"
    )
    _event(lead, {"contacted": "lead.contacted", "appointment": "lead.appointment",
                  "sale": "lead.sold"}[kind], at, conversion=conversion)  # fmt: skip
    return conversion


def _return(lead, at, status="requested", reason="bad_number"):
    lead_return = LeadReturn.objects.create(
        lead=lead,
        source=lead.source,
        reason=reason,
        status=status,
        credit=lead.cost,
        origin="rep",
        requested_at=at,
    )
    _event(lead, "lead.returned", at, lead_return=lead_return)
    return lead_return


@pytest.fixture
def world(source, other_source):
    """Leads of two sources, with events inside and outside the range."""
    received = datetime.datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    sold = LeadFactory(source=source, source_lead_id="S-SOLD", received_at=received)
    _conversion(sold, "contacted", IN_RANGE)
    _conversion(sold, "appointment", IN_RANGE + datetime.timedelta(hours=1))
    _conversion(sold, "sale", IN_RANGE + datetime.timedelta(days=1), Decimal("1200.50"))
    _conversion(sold, "sale", IN_RANGE + datetime.timedelta(days=2), Decimal("99.50"))
    returned = LeadFactory(source=source, source_lead_id="S-RETURNED", received_at=received)
    _return(returned, BEFORE, status="rejected", reason="duplicate")
    _return(returned, IN_RANGE, status="accepted", reason="bad_number")
    contacted_late = LeadFactory(source=source, source_lead_id="S-LATE", received_at=received)
    _conversion(contacted_late, "contacted", BEFORE)  # before the range: counts as contacted
    _conversion(contacted_late, "appointment", IN_RANGE)
    outside = LeadFactory(source=source, source_lead_id="S-OUTSIDE", received_at=received)
    _conversion(outside, "contacted", AFTER)
    LeadFactory(source=source, source_lead_id="S-QUIET", received_at=received)
    theirs = LeadFactory(source=other_source, source_lead_id="O-THEIRS", received_at=received)
    _conversion(theirs, "sale", IN_RANGE, Decimal("500.00"))
    return {"sold": sold, "returned": returned, "late": contacted_late, "theirs": theirs}


def _when(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def expected_rows(source, since, until, *, shares_revenue):
    """The export as the database says it, read lead by lead with the ORM."""
    rows = []
    lead_ids = (
        FeedbackEvent.objects.filter(source=source, occurred_at__gte=since, occurred_at__lt=until)
        .values_list("lead_id", flat=True)
        .distinct()
    )
    for lead in source.leads.filter(pk__in=lead_ids).order_by("pk"):
        conversions = list(lead.conversions.all())
        first = {
            kind: min((c.occurred_at for c in conversions if c.kind == kind), default=None)
            for kind in ("appointment", "sale")
        }
        contacted = min((c.occurred_at for c in conversions), default=None)
        sales = [c.revenue for c in conversions if c.kind == "sale"]
        latest = lead.returns.order_by("-requested_at", "-id").first()
        rows.append(
            {
                "source_lead_id": lead.source_lead_id,
                "received_at": _when(lead.received_at),
                "status": lead.status,
                "contacted": contacted is not None,
                "contacted_at": _when(contacted),
                "appointment_at": _when(first["appointment"]),
                "sold_at": _when(first["sale"]),
                "revenue": f"{sum(sales):.2f}" if sales and shares_revenue else None,
                "return_reason": latest.reason if latest else None,
                "return_status": latest.status if latest else None,
            }
        )
    return rows


def _client(source):
    return Client(headers={"Authorization": f"Bearer {source.api_key}"})


def _get(source, **params):
    params = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), **params}
    return _client(source).get("/api/v1/feedback/", params)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _csv_rows(response):
    reader = csv.DictReader(io.StringIO(_body(response).decode()))
    assert tuple(reader.fieldnames) == COLUMNS
    return [
        {
            key: (value == "true" if key == "contacted" else value or None)
            for key, value in row.items()
        }
        for row in reader
    ]


@pytest.mark.parametrize("shares_revenue", [True, False])
def test_the_csv_export_equals_the_database_for_the_range(world, source, shares_revenue):
    source.shares_revenue = shares_revenue
    source.save()

    response = _get(source)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv_rows(response)
    assert rows == expected_rows(source, SINCE, UNTIL, shares_revenue=shares_revenue)
    assert [row["source_lead_id"] for row in rows] == ["S-SOLD", "S-RETURNED", "S-LATE"]
    sold = rows[0]
    assert sold["revenue"] == ("1300.00" if shares_revenue else None)
    assert sold["sold_at"] == "2026-11-04T15:30:00Z"
    assert rows[1]["return_reason"] == "bad_number" and rows[1]["return_status"] == "accepted"
    assert rows[2]["contacted_at"] == "2026-10-20T09:00:00Z"


def test_the_json_export_equals_the_database_for_the_range(world, source):
    source.shares_revenue = True
    source.save()

    response = _get(source, format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(_body(response)) == expected_rows(source, SINCE, UNTIL, shares_revenue=True)


def test_the_export_streams_with_every_query_logged_as_debug_mode_does(world, source):
    # DEBUG (the embedded demo) logs every query with its parameters filled in.
    with CaptureQueriesContext(connection):
        response = _get(source)
        rows = _csv_rows(response)

    assert response.status_code == 200
    assert rows == expected_rows(source, SINCE, UNTIL, shares_revenue=False)


def test_an_empty_range_is_an_empty_file(world, source):
    since = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    until = datetime.datetime(2025, 1, 2, tzinfo=UTC)

    as_json = _get(source, since=since.isoformat(), until=until.isoformat(), format="json")
    as_csv = _get(source, since=since.isoformat(), until=until.isoformat())

    assert json.loads(_body(as_json)) == []
    assert _body(as_csv).decode().strip() == ",".join(COLUMNS)


def test_a_source_never_sees_another_sources_leads(world, source, other_source):
    theirs = _csv_rows(_get(other_source))
    ours = _body(_get(source, format="json")).decode()

    assert [row["source_lead_id"] for row in theirs] == ["O-THEIRS"]
    assert "O-THEIRS" not in ours and "500.00" not in ours


def test_a_paused_source_still_reads_its_feedback(world, source):
    source.is_active = False
    source.save()

    assert len(_csv_rows(_get(source))) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": None}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"since": "2026-11-01\x00"}, "since"),
        ({"since": "2" * 5000}, "since"),
        ({"until": "2026-02-30T00:00:00Z"}, "until"),
        ({"until": "2026-10-01T00:00:00Z"}, "until"),  # before since
        ({"until": "2028-01-01T00:00:00Z"}, "until"),  # over FEEDBACK_MAX_RANGE_DAYS
        ({"format": "xml"}, "format"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(source, params, field):
    query = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), **params}
    query = {key: value for key, value in query.items() if value is not None}

    response = _client(source).get("/api/v1/feedback/", query)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_without_a_source_key_the_export_is_refused(world, rep_client):
    anonymous = Client().get("/api/v1/feedback/", {"since": SINCE.isoformat()})
    rep = rep_client.get("/api/v1/feedback/", {"since": SINCE.isoformat()})
    token = Client(headers={"Authorization": "Token llt_whatever"}).get(
        "/api/v1/feedback/", {"since": SINCE.isoformat()}
    )
    wrong = Client(headers={"Authorization": "Bearer lls_wrong"}).get(
        "/api/v1/feedback/", {"since": SINCE.isoformat()}
    )

    assert [r.status_code for r in (anonymous, rep, token, wrong)] == [401, 401, 401, 401]


def test_a_range_too_large_to_stream_is_prepared_as_a_file(
    world, source, other_source, settings, django_capture_on_commit_callbacks
):
    settings.FEEDBACK_STREAM_MAX_ROWS = 3  # the range has 6 events
    settings.TASKS_IN_PROCESS = True  # the RQ job runs in this process, as without Redis

    with django_capture_on_commit_callbacks(execute=True):
        answer = _get(source)

    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "preparing"
    status = _client(source).get(body["file"])
    assert status.status_code == 200
    assert status.json()["status"] == "ready" and status.json()["rows"] == 3
    download = _client(source).get(status.json()["download_url"])
    assert download.status_code == 200
    settings.FEEDBACK_STREAM_MAX_ROWS = 1_000_000
    assert b"".join(download.streaming_content) == _body(_get(source))
    # Another source's key finds no such file.
    assert _client(other_source).get(body["file"]).status_code == 404
    assert _client(other_source).get(status.json()["download_url"]).status_code == 404
    assert FeedbackFile.objects.get(pk=body["id"]).job_id
    # Asked again, the same range gets the same file rather than another job.
    settings.FEEDBACK_STREAM_MAX_ROWS = 3
    assert _get(source).json()["id"] == body["id"]
    assert FeedbackFile.objects.count() == 1


def test_a_file_not_ready_yet_is_a_409(source):
    feedback_file = FeedbackFile.objects.create(source=source, since=SINCE, until=UNTIL)

    response = _client(source).get(f"/api/v1/feedback/files/{feedback_file.pk}/download/")

    assert response.status_code == 409


def test_the_clock_makes_one_daily_file_per_source_with_feedback(
    source, other_source, settings, django_capture_on_commit_callbacks
):
    settings.TASKS_IN_PROCESS = True
    quiet = LeadSourceFactory()
    day = datetime.date(2026, 11, 3)
    ours = LeadFactory(source=source, source_lead_id="S-DAY")
    _conversion(ours, "contacted", IN_RANGE)
    theirs = LeadFactory(source=other_source, source_lead_id="O-DAY")
    _conversion(theirs, "contacted", IN_RANGE + datetime.timedelta(days=1))  # another day

    with django_capture_on_commit_callbacks(execute=True):
        first = feedback_daily_files_request(day=day)
    with django_capture_on_commit_callbacks(execute=True):
        again = feedback_daily_files_request(day=day)

    assert (first, again) == (1, 0)
    listed = _client(source).get("/api/v1/feedback/files/").json()["files"]
    assert [(f["daily"], f["status"], f["rows"]) for f in listed] == [(True, "ready", 1)]
    assert listed[0]["since"] == "2026-11-03T00:00:00Z"
    content = b"".join(_client(source).get(listed[0]["download_url"]).streaming_content)
    assert "S-DAY" in content.decode()
    assert _client(other_source).get("/api/v1/feedback/files/").json()["files"] == []
    assert _client(quiet).get("/api/v1/feedback/files/").json()["files"] == []


@pytest.mark.redis
def test_a_large_range_is_prepared_by_a_real_rq_worker(
    world, source, settings, django_capture_on_commit_callbacks
):
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    from rq import SimpleWorker

    from crm.queues import rq_queue

    settings.FEEDBACK_STREAM_MAX_ROWS = 0
    queue = rq_queue("exports")
    with django_capture_on_commit_callbacks(execute=True):
        answer = _get(source, format="json")

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    feedback_file = FeedbackFile.objects.get(pk=answer.json()["id"])
    assert (feedback_file.status, feedback_file.rows) == ("ready", 3)
    job = queue.fetch_job(feedback_file.job_id)
    assert job.meta["progress"] == {"done": 3, "total": 6}  # total: the events counted
    download = _client(source).get(f"/api/v1/feedback/files/{feedback_file.pk}/download/")
    assert [row["source_lead_id"] for row in json.loads(b"".join(download.streaming_content))] == [
        "S-SOLD", "S-RETURNED", "S-LATE",
    ]  # fmt: skip
    job.delete()
