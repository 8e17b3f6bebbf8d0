"""The main journeys, in a real Chromium against a live server."""

import pytest
from playwright.sync_api import expect

from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def _log_in(page, url, username):
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("form [type=submit]").click()


def test_manager_finds_a_lead_by_phone_and_reads_its_history(live_server, page, manager, source):
    lead = LeadFactory(
        source=source, first_name="Dana", last_name="Whitfield", phone="+13055557001"
    )
    LeadFactory(source=source, first_name="Other", last_name="Person", phone="+13055557002")
    ConsentRecordFactory(lead=lead)

    _log_in(page, f"{live_server.url}/admin/", manager.username)
    page.locator("tr.model-lead").get_by_role("link", name="Leads").click()
    page.fill("#searchbar", "(305) 555-7001")
    page.press("#searchbar", "Enter")

    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(1)
    results.first.locator("th a").click()
    expect(page.locator("#id_first_name")).to_have_value("Dana")
    expect(page.get_by_text("Brightside Home Services").first).to_be_visible()
    page.get_by_role("link", name="History").click()
    expect(page.locator("h1")).to_contain_text("Change history")
    expect(page.locator("#change-history tbody tr").first).to_be_visible()


def test_rep_logs_in_and_opens_their_lead(live_server, page, rep, other_rep, source):
    mine = LeadFactory(source=source, owner=rep, first_name="Jordan", status="working")
    theirs = LeadFactory(source=source, owner=other_rep, first_name="Casey")
    ConsentRecordFactory(lead=mine, seller_names=["Brightside Home Services"])

    _log_in(page, f"{live_server.url}/login/", rep.username)

    expect(page.locator("h1")).to_have_text("My queue")
    expect(page.get_by_text("Casey")).to_have_count(0)
    page.get_by_role("link", name=mine.full_name).click()
    expect(page.locator("h1")).to_contain_text(mine.full_name)
    expect(page.locator("#consent")).to_contain_text("Brightside Home Services")

    response = page.goto(f"{live_server.url}/leads/{theirs.pk}/")
    assert response.status == 404
