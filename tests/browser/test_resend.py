"""A manager resends, from the admin, an email whose send was interrupted, in a real Chromium."""

import os

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Touch, TouchStatus
from tests.factories import LeadFactory, ManagerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", "")


@pytest.fixture(autouse=True)
def business(settings, eager_tasks):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"


def test_a_manager_resends_an_interrupted_email_from_the_touch_list(live_server, page):
    manager = ManagerFactory(username="morgan")
    manager.set_password(PASSWORD)
    manager.save()
    lead = LeadFactory(email="dana@example.com", last_name="Whitfield")
    touch = Touch.objects.create(
        lead=lead,
        channel="email",
        subject="Your quote",
        body="Here it is.",
        status=TouchStatus.UNKNOWN,
        status_note="Interrupted while sending: the mail server may or may not have taken it.",
        sending_at=timezone.now(),
    )

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", manager.username)
    page.fill("#id_password", PASSWORD)
    page.locator("[type=submit]").click()
    page.goto(f"{live_server.url}/admin/leads/touch/?status__exact=unknown")
    expect(page.locator("#result_list")).to_contain_text("Interrupted while sending")
    for width in (1280, 390):
        if SCREENSHOTS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{SCREENSHOTS}/touch-unknown-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator(f"input[name=_selected_action][value='{touch.pk}']").check()
    page.select_option("select[name=action]", "resend_interrupted")
    page.locator("button[name=index]").click()

    expect(page.locator(".messagelist")).to_contain_text("Queued 1 touch(es) to send again.")
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert [m.to for m in mail.outbox] == [["dana@example.com"]]
    assert "Resent by morgan" not in touch.status_note  # sent: the note is cleared
