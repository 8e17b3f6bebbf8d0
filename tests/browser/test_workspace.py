"""The rep's workspace in a real Chromium: next lead, an attempt, a callback coming back at
its time, a new lead appearing without a reload, and another rep's 404.

Each main page is saved as a screenshot at desktop and phone width under
tests/screenshots/ (the README names the folder; CI keeps it as an artifact).
"""

import datetime
import pathlib
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from leads.workspace.alerts import due_callbacks_alert
from leads.workspace.queue import leads_queue_refresh
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
SCREENSHOTS = pathlib.Path(__file__).resolve().parent.parent / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
def clock():
    # The live server runs in this process, so it sees this clock; the browser keeps its own.
    with time_machine.travel(MONDAY_10AM, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.QUEUE_POLL_SECONDS = 1


def _log_in(page, url, username):
    page.goto(f"{url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form [type=submit]").click()


def _shoot(page, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


FACTORS = [["base", 40], ["mobile phone", 15], ["exclusive", 10], ["consent to calls", 10]]


def _queued(**fields):
    lead = LeadFactory(score_factors=FACTORS, **fields)
    ConsentRecordFactory(lead=lead)
    leads_queue_refresh(leads=[lead])
    return lead


def test_a_rep_works_a_lead_and_its_callback_comes_back(
    clock, live_server, page, rep, other_rep, source
):
    best = _queued(source=source, owner=rep, first_name="Jordan", last_name="Avery", score=90)
    _queued(source=source, owner=rep, first_name="Riley", last_name="Stone", score=40)

    _log_in(page, live_server.url, rep.username)
    expect(page.locator("h1")).to_have_text("My queue")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Jordan Avery")
    expect(rows.first).to_contain_text("Call now")
    _shoot(page, "queue")

    page.locator("#next-lead").click()
    expect(page.locator("h1")).to_have_text("Jordan Avery")
    expect(page.locator("#their-time")).to_contain_text("EST")
    expect(page.locator("#consent")).to_contain_text("I agree that Brightside Home Services")
    expect(page.locator("#score")).to_contain_text("exclusive")
    _shoot(page, "lead")

    page.locator("#call-button").click()
    expect(page.get_by_role("status")).to_contain_text("Call logged")
    page.select_option("#id_disposition", "callback_requested")
    expect(page.locator("#id_callback_at")).to_be_visible()
    expect(page.locator("#id_revenue")).to_be_hidden()
    page.fill("#id_callback_at", "2026-11-23T10:30")  # their time: New York
    page.fill("#id_notes", "Wants to talk after their meeting")
    page.locator("#call-outcome [type=submit]").click()
    expect(page.get_by_role("status")).to_contain_text("Outcome recorded: Callback requested")
    expect(page.locator("#callback")).to_contain_text("Mon 10:30 EST their time")
    expect(page.locator("#timeline")).to_contain_text("Call: Callback requested")

    page.goto(f"{live_server.url}/leads/")
    jordan = page.locator("#queue tbody tr", has_text="Jordan Avery")
    expect(jordan).to_contain_text("Callable from Mon 10:30 EST")
    expect(rows.first).to_contain_text("Riley Stone")

    clock.shift(datetime.timedelta(minutes=31))
    assert due_callbacks_alert() == 1  # the clock's tick
    # Without a reload: the queue polls, the callback is back on top with its alert.
    expect(rows.first).to_contain_text("Jordan Avery", timeout=10_000)
    expect(rows.first).to_contain_text("callback they asked for")
    expect(page.locator("#queue .alerts")).to_contain_text("Callback due")

    newcomer = _queued(source=source, owner=rep, first_name="Morgan", last_name="Lee", score=70)
    expect(page.locator(f'#queue tr[data-lead-id="{newcomer.pk}"]')).to_be_visible(timeout=10_000)

    page.locator("#next-lead").click()
    expect(page.locator("h1")).to_have_text("Jordan Avery")

    other = page.context.browser.new_context()
    other_page = other.new_page()
    _log_in(other_page, live_server.url, other_rep.username)
    assert other_page.goto(f"{live_server.url}/leads/{best.pk}/").status == 404
    other.close()


def test_the_outcome_form_asks_for_revenue_on_a_sale(clock, live_server, page, rep, source):
    lead = _queued(source=source, owner=rep, first_name="Sam", last_name="Reyes")

    _log_in(page, live_server.url, rep.username)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.locator("#call-button").click()
    page.select_option("#id_disposition", "sale")
    expect(page.locator("#id_revenue")).to_be_visible()
    expect(page.locator("#id_callback_at")).to_be_hidden()
    page.fill("#id_revenue", "1200.50")
    page.locator("#call-outcome [type=submit]").click()

    expect(page.locator("#conversions")).to_contain_text("Sale · $1200.50")
    expect(page.locator("h1 + .badge")).to_have_text("Won")
    expect(page.locator("#timeline")).to_contain_text("Status: Contacted → Won")
