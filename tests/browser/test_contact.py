"""A rep calls and texts a lead from its page, in a real Chromium: the gate decides each."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from compliance.models import DncList, DncListKind, DncListStatus
from crm import sms
from leads.models import ContactAttempt, Touch, TouchStatus
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def business(settings, eager_tasks):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    sms.outbox.clear()
    DncList.objects.create(
        kind=DncListKind.NATIONAL,
        list_date=MONDAY_10AM.date() - datetime.timedelta(days=2),
        status=DncListStatus.READY,
    )


def _open_lead(page, live_server, rep, lead):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", rep.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form [type=submit]").click()
    page.goto(f"{live_server.url}/leads/{lead.pk}/")


def _florida_lead(rep, source):
    lead = LeadFactory(
        source=source,
        owner=rep,
        phone="+13055557101",
        received_at=MONDAY_10AM - datetime.timedelta(days=1),
    )
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def test_rep_texts_a_lead_then_calls_and_logs_the_outcome(live_server, page, rep, source):
    lead = _florida_lead(rep, source)

    with time_machine.travel(MONDAY_10AM):
        _open_lead(page, live_server, rep, lead)
        page.fill("#send-text textarea", "Hi, this is Alex about your solar quote.")
        page.get_by_role("button", name="Send text").click()

        expect(page.get_by_role("status")).to_have_text("The text message is on its way.")
        expect(page.locator("#timeline")).to_contain_text("Text sent")
        page.get_by_role("button", name="Call (305) 555-7101").click()
        expect(page.get_by_role("status")).to_have_text("Call logged. Dial (305) 555-7101 now.")
        page.select_option("#call-outcome select", label="Contacted")
        page.get_by_role("button", name="Save the outcome").click()
        expect(page.get_by_role("status")).to_have_text("Outcome recorded: Contacted.")

    assert [m.body for m in sms.outbox] == [
        "Hi, this is Alex about your solar quote. Reply STOP to opt out."
    ]
    call = ContactAttempt.objects.get(lead=lead, channel="call")
    assert call.rep == rep and call.disposition == "contacted"


def test_at_night_the_call_is_refused_and_the_text_waits(live_server, page, rep, source):
    lead = _florida_lead(rep, source)

    with time_machine.travel(MONDAY_10AM.replace(hour=21, minute=30)):
        _open_lead(page, live_server, rep, lead)
        page.get_by_role("button", name="Call (305) 555-7101").click()
        expect(page.get_by_role("status")).to_contain_text("Do not call now.")
        page.fill("#send-text textarea", "Good morning!")
        page.get_by_role("button", name="Send text").click()
        expect(page.get_by_role("status")).to_contain_text("The text message will go at")
        expect(page.locator("#timeline")).to_contain_text("Text scheduled")

    assert not ContactAttempt.objects.filter(lead=lead).exists()
    assert sms.outbox == []
    touch = Touch.objects.get(lead=lead)
    assert touch.status == TouchStatus.SCHEDULED
    assert touch.due_at == MONDAY_10AM.replace(day=24, hour=8)
