"""Routing: each new lead goes to a rep who may work it now, or waits in the pool."""

import datetime

import pytest
import time_machine
from django.db import connection, transaction

from leads.fastlane import leads_process
from leads.models import AssignmentReason, Lead, LeadAssignment, RepProfile
from leads.workspace.routing import (
    lead_route,
    leads_reassign,
    pool_leads_route,
    rep_pause,
)
from tests.concurrency import at_once
from tests.conftest import require_service
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db

# Monday 1 December 2026, 10:00 in New York, 07:00 in Los Angeles.
MONDAY_10AM_NY = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC)


def rep(username, **profile):
    user = RepFactory(username=username)
    RepProfile.objects.filter(user=user).update(**{"time_zone": "America/New_York", **profile})
    return user


def route(lead, at=MONDAY_10AM_NY):
    with transaction.atomic():
        return lead_route(lead=lead, at=at)


def owned(user, count):
    LeadFactory.create_batch(count, owner=user, status="working")


def test_the_rep_with_most_free_capacity_gets_the_lead():
    busy, free = rep("busy", capacity=10), rep("free", capacity=10)
    owned(busy, 5)
    owned(free, 2)
    lead = LeadFactory()

    assignment = route(lead)

    lead.refresh_from_db()
    assert lead.owner == free
    assert (assignment.reason, assignment.to_rep, assignment.from_rep) == (
        AssignmentReason.ROUTING,
        free,
        None,
    )
    assert lead.history.latest().history_change_reason == "Routed to an eligible rep"


def test_a_tie_goes_to_the_rep_assigned_least_recently():
    first, second = rep("first"), rep("second")
    route(LeadFactory())  # one of them gets it and is now "more recent"
    winner = Lead.objects.get().owner
    other = second if winner == first else first
    owned(other, 1)  # equal free capacity again

    lead = LeadFactory()
    route(lead)

    lead.refresh_from_db()
    assert lead.owner == other


def test_only_a_rep_licensed_for_the_lead_state_gets_it():
    rep("florida", licensed_states=["FL"], capacity=50)
    georgia = rep("georgia", licensed_states=["GA"], capacity=90)
    lead = LeadFactory(state="GA", zip_code="30303")

    route(lead)

    assert Lead.objects.get(pk=lead.pk).owner == georgia


def test_a_lead_whose_language_is_known_goes_to_a_rep_who_speaks_it():
    rep("english", languages=["en"], capacity=90)
    spanish = rep("spanish", languages=["en", "es"], capacity=10)

    route(spanish_lead := LeadFactory(language="es"))
    route(english_lead := LeadFactory(language="en"))

    assert Lead.objects.get(pk=spanish_lead.pk).owner == spanish
    assert Lead.objects.get(pk=english_lead.pk).owner.username == "english"


def test_working_hours_are_the_reps_own_zone_and_days():
    west = rep("west", time_zone="America/Los_Angeles")  # 07:00 there: not yet at work
    lead = LeadFactory()

    assert route(lead) is None
    assert route(lead, at=MONDAY_10AM_NY + datetime.timedelta(hours=3)).to_rep == west
    saturday = rep("saturday", work_days=[5])
    assert not RepProfile.objects.get(user=saturday).is_working_at(MONDAY_10AM_NY)


def test_a_full_rep_gets_nothing_and_the_lead_waits_in_the_pool_until_room_frees():
    full = rep("full", capacity=2)
    owned(full, 2)
    lead = LeadFactory(processed_at=MONDAY_10AM_NY)

    assert route(lead) is None
    assert pool_leads_route(at=MONDAY_10AM_NY) == 0

    Lead.objects.filter(owner=full).update(status="won")
    assert pool_leads_route(at=MONDAY_10AM_NY) == 1
    assert Lead.objects.get(pk=lead.pk).owner == full


def test_a_paused_rep_gets_no_new_leads():
    paused, active = rep("paused", capacity=90), rep("active", capacity=10)
    rep_pause(rep=RepProfile.objects.get(user=paused), paused=True)

    route(lead := LeadFactory())

    assert Lead.objects.get(pk=lead.pk).owner == active


def test_a_manager_reassigns_leads_with_the_reason_kept(manager):
    alex, blair = rep("alex"), rep("blair")
    leads = LeadFactory.create_batch(2, owner=alex)

    count = leads_reassign(
        leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]),
        rep_user=blair,
        assigned_by=manager,
        note="Alex is on leave",
    )

    assert count == 2
    assert set(Lead.objects.values_list("owner__username", flat=True)) == {"blair"}
    record = LeadAssignment.objects.filter(reason=AssignmentReason.MANAGER).first()
    assert (record.from_rep, record.to_rep, record.assigned_by) == (alex, blair, manager)
    assert (
        "Alex is on leave"
        in Lead.objects.get(pk=leads[0].pk).history.latest().history_change_reason
    )


def test_the_fast_lane_routes_a_new_lead():
    alex = rep("alex")
    lead = LeadFactory(processed_at=None)

    with time_machine.travel(MONDAY_10AM_NY, tick=False):
        leads_process(lead_ids=[lead.pk])

    assert Lead.objects.get(pk=lead.pk).owner == alex


@pytest.mark.django_db(transaction=True)
def test_two_routers_at_once_never_push_a_rep_past_capacity():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    only = rep("only", capacity=1)
    leads = LeadFactory.create_batch(6)
    at_once(route, leads, timeout=30)

    assert Lead.objects.filter(owner=only).count() == 1
    assert LeadAssignment.objects.count() == 1


def test_a_manager_reassigns_in_the_admin_with_a_reason(manager_client, manager):
    from django.urls import reverse

    alex, blair = rep("alex"), rep("blair")
    lead = LeadFactory(owner=alex)
    url = reverse("admin:leads_lead_changelist")
    chosen = {"action": "reassign_leads", "_selected_action": [lead.pk]}

    asked = manager_client.post(url, chosen)
    done = manager_client.post(
        url, {**chosen, "confirm": "yes", "rep": blair.pk, "reason": "Speaks Spanish"}
    )

    assert asked.status_code == 200 and b"Reassign" in asked.content
    assert done.status_code == 302
    lead.refresh_from_db()
    assert lead.owner == blair
    record = LeadAssignment.objects.get()
    assert (record.reason, record.note, record.assigned_by) == (
        "manager",
        "Speaks Spanish",
        manager,
    )
    page = manager_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert b"Speaks Spanish" in page.content  # the assignments inline


def test_a_manager_pauses_and_resumes_a_rep_in_the_admin(manager_client):
    from django.urls import reverse

    alex = rep("alex")
    profile = RepProfile.objects.get(user=alex)
    url = reverse("admin:leads_repprofile_changelist")

    manager_client.post(url, {"action": "pause_reps", "_selected_action": [profile.pk]})
    assert route(LeadFactory()) is None
    manager_client.post(url, {"action": "resume_reps", "_selected_action": [profile.pk]})
    assert route(LeadFactory()).to_rep == alex
