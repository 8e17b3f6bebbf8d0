"""The rep's queue page: what each row says, and a query count that does not grow with the
page's rows."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.workspace.queue import leads_queue_refresh
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db

MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False):
        yield


def _leads(rep, source, count, **fields):
    leads = [LeadFactory(source=source, owner=rep, **fields) for _ in range(count)]
    for lead in leads[::2]:
        ConsentRecordFactory(lead=lead)
    leads_queue_refresh(leads=leads)
    return leads


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("my_leads")).status_code == 200
    return len(captured)


def test_the_queue_page_costs_the_same_for_10_rows_as_for_50(rep_client, rep, source):
    _leads(rep, source, 5)
    _leads(rep, source, 5, state="HI", zip_code="96813", time_zone="Pacific/Honolulu")
    ten = _queries(rep_client)
    _leads(rep, source, 20)
    _leads(rep, source, 20, state="HI", zip_code="96813", time_zone="Pacific/Honolulu")
    assert _queries(rep_client) == ten


def test_each_row_says_when_it_may_be_called_and_why_it_is_there(rep_client, rep, source):
    _leads(rep, source, 1, first_name="Callable")
    _leads(
        rep,
        source,
        1,
        first_name="Islander",
        state="HI",
        zip_code="96813",
        time_zone="Pacific/Honolulu",
    )

    page = rep_client.get(reverse("my_leads")).content.decode()

    assert page.index("Callable") < page.index("Islander")
    assert "Call now" in page and "never called: by score, then age" in page
    assert "Callable from Mon 08:00 HST their time" in page


def test_the_live_view_gets_only_the_queue(rep_client, rep, source):
    _leads(rep, source, 2)
    fragment = rep_client.get(reverse("my_leads"), headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="queue"')
    assert "<html" not in body
