"""Speed-to-lead SLAs: a lead no rep has called in time alerts its rep, then goes to another
rep, then reaches the managers; each step once, whoever runs the clock."""

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as project_settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from leads.fastlane import lead_process
from leads.models import Alert, AlertKind, AssignmentReason, Lead, LeadAssignment
from leads.tasks import escalate_sla
from leads.workspace import sla
from leads.workspace.queue import NEVER_ATTEMPTED, SLA_BREAKING, leads_queue_refresh
from leads.workspace.sla import sla_escalate, sla_warnings_refresh
from tests.concurrency import at_once
from tests.conftest import require_service
from tests.factories import (
    ConsentRecordFactory,
    LeadFactory,
    LeadSourceFactory,
    RepFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
MINUTE = datetime.timedelta(minutes=1)
SECOND = datetime.timedelta(seconds=1)
NEXT = "/leads/next/"


@pytest.fixture(autouse=True)
def at_monday_10am():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def late_lead(*, due=MONDAY_10AM, sla_minutes=5, **fields):
    """An open lead not called, its SLA due at `due`, from a source with this SLA."""
    fields.setdefault("source", LeadSourceFactory(sla_minutes=sla_minutes))
    fields.setdefault("received_at", MONDAY_10AM - 5 * MINUTE)
    fields.setdefault("processed_at", fields["received_at"])
    # As sla_clock_start leaves it: the first step falls due with the SLA.
    return LeadFactory(sla_due_at=due, sla_next_at=due, **fields)


def tick(at):
    with time_machine.travel(at, tick=False):
        return sla_escalate()


def alerts(kind, **filters):
    return list(Alert.objects.filter(kind=kind, **filters).order_by("pk"))


def test_at_its_due_time_the_rep_is_alerted(rep, other_rep):
    lead = late_lead(owner=rep)

    assert tick(MONDAY_10AM - datetime.timedelta(seconds=1)) == 0
    assert tick(MONDAY_10AM) == 1

    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (1, rep)
    (alert,) = alerts(AlertKind.SLA_BREACHED)
    assert alert.user == rep and alert.lead == lead
    assert "Call now" in alert.message
    assert not LeadAssignment.objects.exists()
    assert not alerts(AlertKind.SLA_MANAGERS) and not mail.outbox


def test_one_sla_later_it_goes_to_another_eligible_rep_never_back_to_its_own(rep, other_rep):
    # With more free capacity than other_rep, routing alone would give it back to rep.
    LeadFactory.create_batch(3, owner=other_rep, status="working")
    lead = late_lead(owner=rep)
    tick(MONDAY_10AM)

    assert tick(MONDAY_10AM + 5 * MINUTE - datetime.timedelta(seconds=1)) == 0
    assert tick(MONDAY_10AM + 5 * MINUTE) == 1

    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (2, other_rep)
    assignment = LeadAssignment.objects.get(lead=lead)
    assert (assignment.reason, assignment.from_rep, assignment.to_rep) == (
        AssignmentReason.SLA,
        rep,
        other_rep,
    )
    (alert,) = alerts(AlertKind.SLA_REASSIGNED)
    assert alert.user == other_rep and "is now yours" in alert.message
    assert lead.history.latest().history_change_reason.startswith("Reassigned: speed-to-lead")


def test_with_nobody_else_eligible_it_stays_with_its_rep_who_is_told(rep):
    off_shift = RepFactory(username="night.owl")
    off_shift.rep_profile.work_days = [5, 6]  # weekends only: not working on a Monday
    off_shift.rep_profile.save()
    lead = late_lead(owner=rep)
    tick(MONDAY_10AM)

    tick(MONDAY_10AM + 5 * MINUTE)

    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (2, rep)
    assert not LeadAssignment.objects.exists()
    at_due, later = alerts(AlertKind.SLA_BREACHED, user=rep)
    assert "before it goes to another rep" in at_due.message
    assert "No other rep may take it now" in later.message
    assert not alerts(AlertKind.SLA_REASSIGNED)


def test_a_lead_in_the_pool_has_no_rep_to_alert_so_it_is_given_to_one_at_once(rep):
    lead = late_lead(owner=None)

    tick(MONDAY_10AM)

    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (2, rep)
    assert LeadAssignment.objects.get(lead=lead).reason == AssignmentReason.SLA
    assert [alert.user for alert in alerts(AlertKind.SLA_REASSIGNED)] == [rep]
    assert not alerts(AlertKind.SLA_BREACHED)


def test_two_slas_later_every_manager_is_alerted_and_emailed_once(
    rep, other_rep, manager, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://crm.example.com"
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    UserFactory(username="gone", is_staff=True, is_superuser=True, is_active=False)
    source = LeadSourceFactory(name="SunPath Media", sla_minutes=5)
    lead = late_lead(owner=rep, source=source, first_name="Ada", last_name="Lovelace")
    tick(MONDAY_10AM)
    tick(MONDAY_10AM + 5 * MINUTE)

    with django_capture_on_commit_callbacks(execute=True):
        assert tick(MONDAY_10AM + 10 * MINUTE - datetime.timedelta(seconds=1)) == 0
        assert tick(MONDAY_10AM + 10 * MINUTE) == 1

    lead.refresh_from_db()
    assert lead.sla_stage == 3
    managers_told = alerts(AlertKind.SLA_MANAGERS)
    assert {alert.user for alert in managers_told} == {manager, admin_user}
    assert "still not called 10 min after" in managers_told[0].message
    (email,) = mail.outbox
    assert sorted(email.to) == sorted([manager.email, admin_user.email])
    assert "Ada Lovelace" in email.subject
    assert "Lead: Ada Lovelace" in email.body
    assert "Source: SunPath Media" in email.body
    assert "Late: 10 min past its 5-minute" in email.body
    assert f"https://crm.example.com/admin/leads/lead/{lead.pk}/change/" in email.body
    assert not alerts(AlertKind.SLA_MANAGERS, user__in=[rep, other_rep])


def test_steps_never_repeat(rep, other_rep, manager, django_capture_on_commit_callbacks):
    lead = late_lead(owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        for minutes in (0, 0, 1, 5, 5, 9, 10, 10, 11, 60, 600):
            tick(MONDAY_10AM + minutes * MINUTE)

    lead.refresh_from_db()
    assert lead.sla_stage == 3
    assert len(alerts(AlertKind.SLA_BREACHED)) == 1
    assert len(alerts(AlertKind.SLA_REASSIGNED)) == 1
    assert len(alerts(AlertKind.SLA_MANAGERS)) == 1
    assert LeadAssignment.objects.filter(reason=AssignmentReason.SLA).count() == 1
    assert len(mail.outbox) == 1


def test_a_lead_the_clock_missed_goes_through_each_step_it_missed_once(
    rep, other_rep, manager, django_capture_on_commit_callbacks
):
    lead = late_lead(owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        assert tick(MONDAY_10AM + 20 * MINUTE) == 1
        assert tick(MONDAY_10AM + 21 * MINUTE) == 0

    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (3, other_rep)
    assert [alert.user for alert in alerts(AlertKind.SLA_BREACHED)] == [rep]
    assert [alert.user for alert in alerts(AlertKind.SLA_REASSIGNED)] == [other_rep]
    assert [alert.user for alert in alerts(AlertKind.SLA_MANAGERS)] == [manager]
    assert len(mail.outbox) == 1


def test_each_source_sets_its_own_step_length(rep, other_rep):
    slow = late_lead(owner=rep, sla_minutes=15)
    fast = late_lead(owner=rep, sla_minutes=2)

    tick(MONDAY_10AM + 3 * MINUTE)

    slow.refresh_from_db()
    fast.refresh_from_db()
    assert (slow.sla_stage, fast.sla_stage) == (1, 2)


def test_a_lead_called_in_time_never_escalates(rep_client, rep, other_rep, manager):
    lead = late_lead(owner=rep, due=MONDAY_10AM + 2 * MINUTE, phone="+13055550100")
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)

    rep_client.post(reverse("lead_call_start", args=[lead.pk]))

    lead.refresh_from_db()
    assert lead.first_attempt_at is not None and lead.sla_due_at is None
    for minutes in (2, 7, 12, 60):
        assert tick(MONDAY_10AM + minutes * MINUTE) == 0
    lead.refresh_from_db()
    assert (lead.sla_stage, lead.owner) == (0, rep)
    assert not Alert.objects.exists()


def test_a_closed_lead_never_escalates(rep, other_rep):
    lead = late_lead(owner=rep, status="lost")

    assert tick(MONDAY_10AM + 20 * MINUTE) == 0

    lead.refresh_from_db()
    assert lead.sla_stage == 0 and not Alert.objects.exists()


def test_a_lead_arriving_outside_its_hours_starts_its_clock_when_they_open(rep):
    honolulu = ZoneInfo("Pacific/Honolulu")
    source = LeadSourceFactory(sla_minutes=5)
    lead = LeadFactory(
        source=source, state="HI", zip_code="96813", time_zone="Pacific/Honolulu"
    )  # 05:00 in Honolulu: calls are allowed from 08:00
    in_hours = LeadFactory(source=source)

    assert lead_process(lead_id=lead.pk) and lead_process(lead_id=in_hours.pk)

    lead.refresh_from_db()
    in_hours.refresh_from_db()
    opens = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=honolulu)
    assert lead.sla_due_at == opens + 5 * MINUTE
    assert in_hours.sla_due_at == MONDAY_10AM + 5 * MINUTE
    assert lead.owner == rep
    tick(opens + 4 * MINUTE)
    lead.refresh_from_db()
    assert lead.sla_stage == 0
    tick(opens + 5 * MINUTE)
    lead.refresh_from_db()
    assert lead.sla_stage == 1


def test_an_sla_about_to_break_goes_to_the_front_of_next_lead(rep_client, rep):
    best = late_lead(owner=rep, score=90, due=MONDAY_10AM + 30 * MINUTE)
    breaking = late_lead(owner=rep, score=10, due=MONDAY_10AM + 3 * MINUTE)
    leads_queue_refresh(leads=[best, breaking])
    assert rep_client.post(NEXT)["Location"] == reverse("lead_detail", args=[best.pk])

    with time_machine.travel(MONDAY_10AM + 2 * MINUTE, tick=False):  # 1 min before it breaks
        sla_escalate()
        response = rep_client.post(NEXT)

    assert response["Location"] == reverse("lead_detail", args=[breaking.pk])
    breaking.refresh_from_db()
    assert breaking.priority == SLA_BREAKING + 10
    assert breaking.sla_stage == 0  # warned, not escalated


def test_a_lead_is_moved_to_the_front_once(rep):
    leads_queue_refresh(leads=[late_lead(owner=rep, due=MONDAY_10AM + 2 * MINUTE)])
    assert sla_warnings_refresh() == 0  # 2 min before it breaks

    assert sla_warnings_refresh(now=MONDAY_10AM + MINUTE) == 1
    assert sla_warnings_refresh(now=MONDAY_10AM + MINUTE) == 0
    assert Lead.objects.get().priority >= SLA_BREAKING


def test_the_clock_runs_the_escalations(rep, other_rep):
    lead = late_lead(owner=rep)
    entry = project_settings.CELERY_BEAT_SCHEDULE["escalate-sla"]
    assert entry["task"] == escalate_sla.name == "leads.tasks.escalate_sla"
    assert entry["schedule"] == float(project_settings.CLOCK_TICK_SECONDS)

    escalate_sla()
    assert Lead.objects.get(pk=lead.pk).sla_stage == 1

    out = io.StringIO()
    with time_machine.travel(MONDAY_10AM + 5 * MINUTE, tick=False):
        call_command("run_clock", "--once", stdout=out)
    assert Lead.objects.get(pk=lead.pk).sla_stage == 2
    assert "Escalated 1 lead(s) not called in time." in out.getvalue()


def test_managers_filter_late_leads_in_the_admin(admin_client, rep):
    late_lead(owner=rep, source_lead_id="overdue", due=MONDAY_10AM - MINUTE)
    late_lead(owner=rep, source_lead_id="escalated", due=None, sla_stage=1)  # called late
    late_lead(owner=rep, source_lead_id="on-time", due=MONDAY_10AM + MINUTE)
    LeadFactory(source_lead_id="called-in-time")

    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"speed_to_lead": "late"})

    listed = set(response.context["cl"].result_list.values_list("source_lead_id", flat=True))
    assert listed == {"overdue", "escalated"}


@pytest.mark.django_db(transaction=True)
def test_two_clocks_ticking_at_once_escalate_each_lead_once(monkeypatch):
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    monkeypatch.setattr(sla, "ESCALATION_BATCH", 4)  # several batches each
    rep, other_rep = RepFactory(username="rep.one"), RepFactory(username="rep.two")
    manager = UserFactory(username="boss", is_staff=True, is_superuser=True)
    source = LeadSourceFactory(sla_minutes=5)
    leads = [late_lead(owner=rep, source=source) for _ in range(15)]

    escalated = at_once(lambda _: sla_escalate(now=MONDAY_10AM + 20 * MINUTE), range(2))

    assert sum(escalated) == 15
    assert set(Lead.objects.values_list("sla_stage", "owner")) == {(3, other_rep.pk)}
    for kind, user in (
        (AlertKind.SLA_BREACHED, rep),
        (AlertKind.SLA_REASSIGNED, other_rep),
        (AlertKind.SLA_MANAGERS, manager),
    ):
        told = Alert.objects.filter(kind=kind)
        assert told.count() == 15 and set(told.values_list("user", flat=True)) == {user.pk}
        assert sorted(told.values_list("lead", flat=True)) == sorted(lead.pk for lead in leads)
    assert LeadAssignment.objects.filter(reason=AssignmentReason.SLA).count() == 15
    assert len(mail.outbox) == 15


def test_once_the_managers_are_told_a_lead_waits_behind_leads_whose_sla_can_be_met(rep):
    source = LeadSourceFactory(sla_minutes=5)
    lost = late_lead(owner=rep, source=source, score=90)
    tick(MONDAY_10AM)
    lost.refresh_from_db()
    assert lost.priority == SLA_BREAKING + 90  # late, being escalated: in front

    tick(MONDAY_10AM + 10 * MINUTE)  # the last step: the managers are told
    lost.refresh_from_db()
    due = MONDAY_10AM + 14 * MINUTE
    fresh = LeadFactory(owner=rep, source=source, score=40, sla_due_at=due, sla_next_at=due)
    with time_machine.travel(MONDAY_10AM + 10 * MINUTE, tick=False):
        leads_queue_refresh(leads=[fresh])
    fresh.refresh_from_db()
    assert lost.sla_stage == 3
    assert lost.priority == NEVER_ATTEMPTED + 90
    with time_machine.travel(MONDAY_10AM + 13 * MINUTE + 30 * SECOND, tick=False):
        sla_warnings_refresh()
    fresh.refresh_from_db()
    assert fresh.priority == SLA_BREAKING + 40 > lost.priority


def test_a_tick_reads_no_lead_between_two_steps(monkeypatch):
    # Leads alerted once wait a whole SLA for their next step: the clock runs every few
    # seconds, and must not lock and read each of them on every tick meanwhile.
    source = LeadSourceFactory(sla_minutes=5)
    for _ in range(30):
        late_lead(source=source)
    tick(MONDAY_10AM + MINUTE)
    assert set(Lead.objects.values_list("sla_stage", flat=True)) == {sla.REASSIGNED}
    assert set(Lead.objects.values_list("sla_next_at", flat=True)) == {MONDAY_10AM + 10 * MINUTE}
    read = []
    escalate = sla.lead_sla_escalate
    monkeypatch.setattr(sla, "lead_sla_escalate", lambda **kw: read.append(1) or escalate(**kw))

    assert tick(MONDAY_10AM + 3 * MINUTE) == 0
    assert read == []
    assert tick(MONDAY_10AM + 10 * MINUTE) == 30  # the managers' step, once each
    assert len(read) == 30
