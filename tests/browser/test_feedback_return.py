"""A rep asks for a lead's return from its page, in a real Chromium, on a desk and a phone."""

import datetime
import pathlib
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from leads.models import LeadReturn
from tests.browser.test_journeys import _log_in
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOW = datetime.datetime(2026, 11, 23, 17, 0, tzinfo=datetime.UTC)
# Kept after the run for a person to look at (the README names the folder).
SCREENSHOTS = pathlib.Path(__file__).resolve().parent.parent / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.mark.parametrize("screen", WIDTHS)
def test_rep_requests_a_return_and_sees_its_status(live_server, chromium, rep, source, screen):
    width = WIDTHS[screen]
    source.allowed_return_reasons = ["bad_number", "duplicate", "fraud"]
    source.save()
    lead = LeadFactory(
        source=source, owner=rep, status="working", cost=Decimal("27.50"), received_at=NOW
    )
    ConsentRecordFactory(lead=lead, captured_at=NOW)
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    with time_machine.travel(NOW + datetime.timedelta(hours=1)):
        _log_in(page, f"{live_server.url}/login/", rep.username)
        page.goto(f"{live_server.url}/leads/{lead.pk}/")
        card = page.locator("#return")
        expect(card.get_by_label("Reason")).to_be_visible()
        SCREENSHOTS.mkdir(exist_ok=True)
        card.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / f"return-form-{screen}.png")

        card.get_by_label("Reason").select_option("fraud")
        card.get_by_label("What happened").fill("The name and address are made up.")
        card.get_by_role("button", name="Request a return").click()

        expect(page.get_by_role("status")).to_contain_text("Return asked of SunPath Media")
        card = page.locator("#return")
        expect(card).to_contain_text("Requested")
        expect(card).to_contain_text("$27.50")
        expect(card.get_by_role("button", name="Request a return")).to_have_count(0)
        card.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / f"return-status-{screen}.png")
    context.close()
    assert LeadReturn.objects.get().reason == "fraud"


def test_manager_sees_credits_per_source_in_the_admin(live_server, chromium, manager, source):
    from leads.feedback.returns import return_accept, return_request

    lead = LeadFactory(source=source, cost=Decimal("27.50"))
    with time_machine.travel(NOW):
        return_accept(lead_return=return_request(lead=lead, reason="fraud", origin="admin"))
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/leads/leadreturn/?month=2026-11")
    totals = page.locator("#credit-totals")
    expect(totals).to_contain_text("November 2026")
    expect(totals.locator("tbody tr")).to_contain_text("SunPath Media")
    expect(totals.locator("tbody tr")).to_contain_text("$27.50")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "admin-returns-desktop.png")
    context.close()
