"""A rep sees a lead's follow-up plan and pauses it, in a real Chromium, on a desk and a phone."""

import datetime
import os
from importlib import import_module
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from playwright.sync_api import expect

from leads.cadences.engine import cadence_start
from leads.models import CadenceEnrollment, EnrollmentStatus
from tests.browser.test_journeys import _log_in
from tests.browser.test_stop_requests import MONDAY_NOON
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lead(settings, rep, source):
    # A transactional test empties every table after it, the migration's cadence included.
    import_module("leads.migrations.0013_cadences").default_cadence_create(apps, None)
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_NAME = "Brightside Home Services"
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    received = MONDAY_NOON - datetime.timedelta(minutes=10)
    lead = LeadFactory(source=source, owner=rep, phone="+13055550100", received_at=received)
    ConsentRecordFactory(lead=lead, captured_at=received - datetime.timedelta(minutes=1))
    with time_machine.travel(MONDAY_NOON):
        cadence_start(lead=lead, at=received)
    return lead


@pytest.mark.parametrize("width", [1280, 390])
def test_rep_sees_the_plan_and_pauses_it(live_server, chromium, rep, lead, width, tmp_path):
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    with time_machine.travel(MONDAY_NOON):
        _log_in(page, f"{live_server.url}/login/", rep.username)
        page.goto(f"{live_server.url}/leads/{lead.pk}/")
        card = page.locator("#follow-up")
        expect(card).to_contain_text("Follow-up: Speed to lead")
        expect(card.locator("li")).to_have_count(8)
        expect(card).to_contain_text("Mon Nov 23, 11:55 EST")  # 5 minutes in, their time
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"cadence-{width}.png"), full_page=True)
        card.screenshot(path=str(shots / f"cadence-card-{width}.png"))

        card.get_by_role("button", name="Pause follow-up").click()

        expect(page.get_by_role("status")).to_have_text("Follow-up paused.")
        expect(page.locator("#follow-up")).to_contain_text("Held")
        expect(page.get_by_role("button", name="Resume follow-up")).to_be_visible()
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.PAUSED
    context.close()
