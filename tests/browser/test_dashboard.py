"""The managers' dashboard and the admin's home in a real Chromium, saved as screenshots at
desktop and phone width under tests/screenshots/ (dashboard-*.png, admin-home-*.png)."""

import datetime
import pathlib
import random
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect

from leads.feedback.rollups import rollups_rebuild
from leads.models import Conversion
from leads.sources import manual_source
from tests.factories import LeadFactory, LeadSourceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
SCREENSHOTS = pathlib.Path(__file__).resolve().parent.parent / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}


def _shoot(page, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def _month_of_leads(rep, other_rep):
    """Three sources' leads over November, with calls, contacts, sales at varied speeds."""
    chance = random.Random(14)
    sources = [
        LeadSourceFactory(name="SunPath Media", price_per_lead=Decimal("35")),
        LeadSourceFactory(name="HomeQuote Direct", price_per_lead=Decimal("22")),
        LeadSourceFactory(name="Harbor Lane Leads", price_per_lead=Decimal("48")),
    ]
    for n in range(150):
        source = sources[n % 3]
        received = datetime.datetime(2026, 11, 1 + n % 20, 13, n % 60, tzinfo=UTC)
        wait = chance.choice([0.5, 2, 3, 4, 7, 12, 25, 50, 90, 300, 2000])
        contacted = chance.random() < 0.55
        lead = LeadFactory(
            source=source,
            received_at=received,
            cost=source.price_per_lead,
            campaign=chance.choice(["", "spring-solar", "retargeting"]),
            is_exclusive=chance.random() < 0.6,
            owner=rep if n % 2 else other_rep,
            first_attempt_at=received + datetime.timedelta(minutes=wait) if n % 7 else None,
            first_contact_at=received + datetime.timedelta(minutes=wait + 5) if contacted else None,
        )
        if contacted:
            Conversion.objects.create(lead=lead, kind="contacted", origin="rep")
            if chance.random() < 0.35:
                Conversion.objects.create(
                    lead=lead, kind="sale", revenue=Decimal(chance.randint(800, 6000)), origin="rep"
                )
    LeadFactory(source=manual_source(), received_at=NOW - datetime.timedelta(hours=3))


def test_a_manager_reads_the_months_dashboard(live_server, page, manager, rep, other_rep):
    _month_of_leads(rep, other_rep)
    with time_machine.travel(NOW, tick=True):
        rollups_rebuild(days=[datetime.date(2026, 11, day) for day in range(1, 21)])

        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", manager.username)
        page.fill("#id_password", PASSWORD)
        page.locator("[type=submit]").click()
        expect(page.locator("#today-figures")).to_contain_text("Cost per sale")
        _shoot(page, "admin-home")

        page.locator("#today-figures a", has_text="full dashboard").click()
        page.select_option("#id_period", "month")
        page.locator("#period-picker [type=submit]").click()
        expect(page.locator("h1").last).to_contain_text("Nov 1, 2026 \u2013 Nov 30, 2026")
        sources = page.locator("#table-sources tbody tr")
        expect(sources).to_have_count(5)  # three sources, the hand-entered one, the total
        expect(sources.last).to_contain_text("All purchased leads")
        expect(page.locator("#table-exclusivity")).to_contain_text("SunPath Media")
        expect(page.locator("#table-reps")).to_contain_text("Riley One")
        expect(page.locator("svg.chart")).to_have_count(3)
        expect(page.locator("text=Figures as of")).to_be_visible()
        _shoot(page, "dashboard")

        with page.expect_download() as download:
            page.locator("a", has_text="Download CSV").first.click()
        assert download.value.suggested_filename == "leadline-sources-20261101-20261130.csv"
