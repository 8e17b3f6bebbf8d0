"""A manager reorders a cadence's steps in the admin (django-admin-sortable2), in Chromium."""

import os
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from playwright.sync_api import expect

from leads.models import Cadence
from tests.browser.test_journeys import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_moves_the_last_step_to_the_top_and_saves(live_server, page, manager, tmp_path):
    # A transactional test empties every table after it, the migration's cadence included.
    import_module("leads.migrations.0013_cadences").default_cadence_create(apps, None)
    cadence = Cadence.objects.get(is_default=True)
    last = cadence.steps.order_by("position").last()
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))

    _log_in(page, f"{live_server.url}/admin/login/", manager.username)
    page.goto(f"{live_server.url}/admin/leads/cadence/{cadence.pk}/change/")
    steps = page.locator(".inline-related.has_original")
    expect(steps).to_have_count(8)
    page.screenshot(path=str(shots / "cadence-admin-1280.png"), full_page=True)

    steps.nth(7).get_by_role("button", name="Move to first position").click()
    page.locator("input[name=_continue]").click()

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert cadence.steps.order_by("position").first() == last
