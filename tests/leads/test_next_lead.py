""" "Next lead": the best lead a rep may call now, claimed once under concurrency."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse

from compliance.models import SuppressionOrigin, SuppressionScope
from compliance.suppressions import suppression_add
from leads.models import AssignmentReason, Lead, LeadAssignment
from leads.workspace.queue import leads_queue_refresh, stale_windows_refresh
from tests.concurrency import at_once
from tests.conftest import require_service
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
NEXT = "/leads/next/"


@pytest.fixture(autouse=True)
def at_monday_10am():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def queued(**fields):
    lead = LeadFactory(**fields)
    leads_queue_refresh(leads=[lead])
    lead.refresh_from_db()
    return lead


def test_next_lead_opens_the_best_callable_lead_and_claims_it_from_the_pool(rep_client, rep):
    low = queued(score=40)
    best = queued(score=80)
    called = queued(score=95, first_attempt_at=MONDAY_10AM - datetime.timedelta(hours=1))

    response = rep_client.post(NEXT)

    assert response.status_code == 302
    assert response["Location"] == reverse("lead_detail", args=[best.pk])
    best.refresh_from_db()
    assert best.owner == rep
    assert LeadAssignment.objects.get(lead=best).reason == AssignmentReason.CLAIM
    assert {low.priority, best.priority, called.priority} == {2040, 2080, 1000}
    assert rep_client.get(response["Location"]).status_code == 200


def test_another_reps_lead_is_never_offered(rep_client, other_rep):
    queued(owner=other_rep, score=99)

    response = rep_client.post(NEXT, follow=True)

    assert response.redirect_chain[-1][0] == reverse("my_leads")
    assert "No lead may be called now" in response.content.decode()


def test_a_lead_outside_its_hours_waits_and_the_rep_is_told_when(rep_client, rep):
    honolulu = queued(owner=rep, state="HI", zip_code="96813", time_zone="Pacific/Honolulu")

    response = rep_client.post(NEXT, follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("my_leads")
    assert "The next one may be called from" in page
    assert honolulu.callable_at > MONDAY_10AM  # 05:00 in Honolulu


def test_a_lead_whose_answer_changed_is_skipped_and_moved(rep_client, rep):
    stopped = queued(owner=rep, score=90)
    fine = queued(owner=rep, score=50)
    suppression_add(
        origin=SuppressionOrigin.REP, phone=stopped.phone, scope=SuppressionScope.ALL, lead=stopped
    )  # after its window was stored

    response = rep_client.post(NEXT)

    assert response["Location"] == reverse("lead_detail", args=[fine.pk])
    stopped.refresh_from_db()
    assert stopped.callable_at is None


def test_a_lead_is_offered_inside_its_window_and_never_after_it_closes(rep_client, rep):
    lead = queued(owner=rep, state="HI", zip_code="96813", time_zone="Pacific/Honolulu")
    honolulu = ZoneInfo("Pacific/Honolulu")
    assert lead.callable_at.astimezone(honolulu).time() == datetime.time(8, 0)
    # The phone's area code is Florida's: its 8 PM in New York is 3 PM in Honolulu.
    assert lead.callable_until.astimezone(honolulu).time() == datetime.time(15, 0)

    with time_machine.travel(lead.callable_at + datetime.timedelta(minutes=1), tick=False):
        assert rep_client.post(NEXT)["Location"] == reverse("lead_detail", args=[lead.pk])

    closed = lead.callable_until + datetime.timedelta(minutes=1)
    with time_machine.travel(closed, tick=False):
        # Before the clock stores the next window, the closed one is already not offered.
        assert rep_client.post(NEXT)["Location"] == reverse("my_leads")
        stale_windows_refresh()
    lead.refresh_from_db()
    assert lead.callable_at.astimezone(honolulu) == datetime.datetime(
        2026, 11, 24, 8, 0, tzinfo=honolulu
    )


def test_next_lead_needs_a_post_and_a_login(client, rep_client):
    assert rep_client.get(NEXT).status_code == 405
    assert client.post(NEXT).status_code == 302  # to the login page


@pytest.mark.django_db(transaction=True)
def test_twenty_reps_pressing_at_once_each_get_a_different_lead():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    reps = [RepFactory(username=f"rep{n}") for n in range(20)]
    for n in range(25):
        queued(score=n)

    def press(user):
        client = Client()
        client.force_login(user)
        return client.post(NEXT)["Location"]

    claimed = at_once(press, reps)

    assert all(claimed) and len(set(claimed)) == 20  # every rep answered, none shares a lead
    assert Lead.objects.filter(owner__isnull=False).count() == 20
    assert LeadAssignment.objects.filter(reason=AssignmentReason.CLAIM).count() == 20


def test_only_reps_take_leads_from_the_queue(manager_client):
    lead = queued()

    response = manager_client.post(NEXT, follow=True)

    assert "Only reps take leads" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_leads_stored_before_the_queue_join_it_at_the_next_tick(rep_client, rep):
    old = LeadFactory(owner=rep)  # priority 0, no calling instant: never refreshed
    assert rep_client.post(NEXT)["Location"] == reverse("my_leads")

    stale_windows_refresh()

    assert rep_client.post(NEXT)["Location"] == reverse("lead_detail", args=[old.pk])


def test_my_leads_are_listed_in_the_order_next_lead_takes_them(rep_client, rep):
    later = queued(owner=rep, score=99, state="HI", zip_code="96813", time_zone="Pacific/Honolulu")
    low = queued(owner=rep, score=30)
    high = queued(owner=rep, score=70)

    page = rep_client.get(reverse("my_leads"))

    listed = [lead.pk for lead in page.context["page"].object_list]
    assert listed == [high.pk, low.pk, later.pk]
    text = page.content.decode()
    assert text.count("Call now") == 2
    assert "HST their time" in text
