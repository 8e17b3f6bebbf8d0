"""A rep records a lead's request to stop in one click, in a real Chromium."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from compliance.models import Suppression
from tests.browser.test_journeys import _log_in
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Within Florida's calling hours (8 AM to 8 PM), on a day that is no holiday.
MONDAY_NOON = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture
def lead(settings, rep, source):
    """A Miami lead of the rep's, consenting to calls, texts and email from this business."""
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"
    received = MONDAY_NOON - datetime.timedelta(days=1)
    lead = LeadFactory(
        source=source,
        owner=rep,
        status="working",
        phone="+13055550100",
        email="pat.lee@example.com",
        received_at=received,
    )
    ConsentRecordFactory(lead=lead, captured_at=received)
    return lead


def _open(page, live_server, rep, lead):
    _log_in(page, f"{live_server.url}/login/", rep.username)
    expect(page.locator("h1")).to_have_text("My queue")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    return page.locator("#contact-status")


def _answer(card, channel: str):
    """The card's answer for one row: "Yes", or "Not now" and why."""
    header = card.page.get_by_role("rowheader", name=channel, exact=True)
    return card.locator("tr", has=header).locator("td")


def test_rep_records_a_verbal_stop_and_calls_are_no_longer_allowed(live_server, page, rep, lead):
    with time_machine.travel(MONDAY_NOON):
        card = _open(page, live_server, rep, lead)
        expect(_answer(card, "Call")).to_contain_text("Yes")

        card.get_by_role("button", name="They said “stop calling me”").click()

        expect(page.get_by_role("status")).to_have_text(
            "Recorded: no more marketing to this lead on any channel."
        )
        call = _answer(card, "Call")
        expect(call).to_contain_text("Not now")
        expect(call).to_contain_text("This number opted out on Nov 23, 2026")
        expect(call).to_contain_text("(recorded by a rep): no marketing on any channel.")
    suppression = Suppression.objects.get(lead=lead)
    assert (str(suppression.phone), suppression.email) == ("+13055550100", "")
    assert (suppression.origin, suppression.channel_scope) == ("rep", "call")
    assert suppression.recorded_by == rep


def test_rep_records_an_email_reply_asking_to_stop_and_email_is_blocked(
    live_server, page, rep, lead
):
    with time_machine.travel(MONDAY_NOON):
        card = _open(page, live_server, rep, lead)
        expect(_answer(card, "Marketing email")).to_contain_text("Yes")

        card.get_by_role("button", name="They asked to stop by email").click()

        expect(page.get_by_role("status")).to_have_text(
            "Recorded: no more marketing to this lead on any channel."
        )
        email = _answer(card, "Marketing email")
        expect(email).to_contain_text("Not now")
        expect(email).to_contain_text("This email address opted out on Nov 23, 2026")
        expect(email).to_contain_text("(recorded by a rep): no marketing on any channel.")
        expect(_answer(card, "Call")).to_contain_text("Not now")
    suppression = Suppression.objects.get(lead=lead)
    assert (str(suppression.phone), suppression.email) == ("", "pat.lee@example.com")
    assert (suppression.origin, suppression.channel_scope) == ("rep", "email")
    assert suppression.recorded_by == rep
