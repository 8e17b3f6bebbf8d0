"""Cadences: each lead's follow-up plan, from the fast lane's first text to its last step."""

import datetime
import logging
import os
import threading
import time
import uuid
from decimal import Decimal
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone

from compliance.inbound import sms_reply_receive
from compliance.models import DncList, DncListKind, DncListStatus, SuppressionOrigin
from compliance.suppressions import suppression_add, suppressions_import
from crm import sms
from crm.celery import app as celery_app
from leads.cadences.engine import (
    cadence_for_lead,
    cadence_pause,
    cadence_resume,
    cadence_start,
    cadences_finish,
    steps_due_times,
)
from leads.cadences.templates import (
    context_for,
    fallback_message,
    message_render,
    template_check,
)
from leads.cadences.touches import due_touches_dispatch
from leads.lifecycle import conversion_record, status_advance
from leads.models import (
    Alert,
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    Disposition,
    EnrollmentStatus,
    Lead,
    StepChannel,
    StepDelayFrom,
    Touch,
    TouchStatus,
)
from leads.workspace.alerts import due_callbacks_alert
from leads.workspace.calls import call_outcome_record, call_start
from leads.workspace.queue import CALL_TASK_DUE
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory
from tests.leads.test_api_intake import lead_payload, post

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_tasks")]

NEW_YORK = ZoneInfo("America/New_York")
HONOLULU = ZoneInfo("Pacific/Honolulu")
MONDAY_2PM = datetime.datetime(2026, 11, 23, 14, 0, tzinfo=NEW_YORK)
BUSINESS = "Brightside Home Services"


@pytest.fixture(autouse=True)
def business(settings):
    settings.SELLER_NAMES = [BUSINESS]
    settings.BUSINESS_NAME = BUSINESS
    settings.BUSINESS_PHONE = "(305) 555-0100"
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    sms.outbox.clear()
    DncList.objects.create(
        kind=DncListKind.NATIONAL,
        list_date=MONDAY_2PM.date() - datetime.timedelta(days=2),
        status=DncListStatus.READY,
    )


@pytest.fixture
def monday_2pm():
    with time_machine.travel(MONDAY_2PM, tick=False) as traveller:
        yield traveller


def consented_lead(**fields):
    fields.setdefault("received_at", timezone.now())
    lead = LeadFactory(**fields)
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at - datetime.timedelta(minutes=1))
    return lead


def enrolled(lead, capture, at=None):
    with capture(execute=True):
        enrollment = cadence_start(lead=lead, at=at or timezone.now())
    return enrollment


def cadence_of(*steps, name="Test cadence", **fields) -> Cadence:
    cadence = Cadence.objects.create(name=name, **fields)
    for position, step in enumerate(steps, start=1):
        step.setdefault("body_template", "Hi {{ lead.first_name }}")
        step.setdefault("subject_template", "Hello" if step["channel"] == "email" else "")
        CadenceStep.objects.create(cadence=cadence, position=position, **step)
    return cadence


def plan_of(lead) -> list[tuple[str, str]]:
    touches = Touch.objects.filter(lead=lead, cadence_step__isnull=False)
    return [
        (touch.cadence_step.channel, touch.status)
        for touch in touches.order_by("cadence_step__position")
    ]


def texts_to(lead) -> list[str]:
    return [message.body for message in sms.outbox if message.to == str(lead.phone)]


# The default cadence ----------------------------------------------------------------------


def test_the_default_speed_to_lead_cadence_is_there_after_migrate():
    cadence = Cadence.objects.get(is_default=True)

    assert cadence.name == "Speed to lead" and cadence.is_active
    assert [(step.channel, step.delay_minutes) for step in cadence.steps.all()] == [
        ("sms", 0),
        ("email", 0),
        ("call_task", 0),
        ("bridge", 5),
        ("email", 60),
        ("bridge", 24 * 60),
        ("sms", 2 * 24 * 60),
        ("bridge", 4 * 24 * 60),
    ]
    assert {step.delay_from for step in cadence.steps.all()} == {StepDelayFrom.INTAKE}
    for step in cadence.steps.all():
        template_check(step.subject_template)
        template_check(step.body_template)
    assert all(step.subject_template for step in cadence.steps.filter(channel="email"))
    assert cadence.history.count() == 1


def test_the_product_chooses_first_then_the_source_then_the_default(source):
    by_source = cadence_of({"channel": "sms"}, name="Vendor follow-up")
    by_product = cadence_of({"channel": "sms"}, name="Roofing", products=["Roofing"])
    source.cadence = by_source
    source.save()

    assert cadence_for_lead(lead=LeadFactory(source=source, product="roofing")) == by_product
    assert cadence_for_lead(lead=LeadFactory(source=source, product="solar")) == by_source
    assert cadence_for_lead(lead=LeadFactory(product="solar")).name == "Speed to lead"
    by_product.is_active = False
    by_product.save()
    assert cadence_for_lead(lead=LeadFactory(source=source, product="roofing")) == by_source


# Timing -----------------------------------------------------------------------------------


def steps(*specs):
    return [
        CadenceStep(channel="sms", delay_minutes=minutes, delay_from=delay_from, **extra)
        for minutes, delay_from, extra in specs
    ]


def test_delays_after_the_previous_step_add_up_and_delays_after_intake_do_not():
    start = datetime.datetime(2026, 11, 23, 15, 0, tzinfo=datetime.UTC)
    times = steps_due_times(
        steps=steps(
            (0, "previous", {}), (30, "previous", {}), (30, "previous", {}), (90, "intake", {})
        ),
        previous_at=start,
        intake_at=start,
        time_zone="America/New_York",
    )

    minutes = [int((time - start).total_seconds() // 60) for time in times]
    assert minutes == [0, 30, 60, 90]


def test_a_step_counted_from_intake_never_comes_before_the_step_ahead_of_it():
    start = datetime.datetime(2026, 11, 23, 15, 0, tzinfo=datetime.UTC)
    times = steps_due_times(
        steps=steps((120, "previous", {}), (60, "intake", {})),
        previous_at=start,
        intake_at=start,
        time_zone="America/New_York",
    )

    assert times[1] == times[0] == start + datetime.timedelta(hours=2)


def test_a_whole_day_keeps_the_leads_wall_clock_across_the_change_to_winter_time():
    saturday_10am = datetime.datetime(2026, 10, 31, 10, 0, tzinfo=NEW_YORK)  # EDT
    (next_day,) = steps_due_times(
        steps=steps((24 * 60, "previous", {})),
        previous_at=saturday_10am,
        intake_at=saturday_10am,
        time_zone="America/New_York",
    )

    local = next_day.astimezone(NEW_YORK)
    assert (local.day, local.hour, local.minute, local.tzname()) == (1, 10, 0, "EST")
    assert next_day - saturday_10am.astimezone(datetime.UTC) == datetime.timedelta(hours=25)


def test_a_delay_shorter_than_a_day_is_elapsed_time_across_the_change():
    before = datetime.datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # 01:30 EDT, fold 0
    (later,) = steps_due_times(
        steps=steps((60, "previous", {})),
        previous_at=before,
        intake_at=before,
        time_zone="America/New_York",
    )

    assert later.astimezone(datetime.UTC) - before.astimezone(datetime.UTC) == datetime.timedelta(
        hours=1
    )
    assert later.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EST"


def test_weekdays_only_moves_a_saturday_step_to_monday_in_new_york_not_in_honolulu():
    # Saturday 00:30 in New York is still Friday 19:30 in Honolulu.
    instant = datetime.datetime(2026, 11, 28, 5, 30, tzinfo=datetime.UTC)
    weekday_step = steps((0, "previous", {"weekdays_only": True}))

    (new_york,) = steps_due_times(
        steps=weekday_step, previous_at=instant, intake_at=instant, time_zone="America/New_York"
    )
    (honolulu,) = steps_due_times(
        steps=weekday_step, previous_at=instant, intake_at=instant, time_zone="Pacific/Honolulu"
    )

    assert honolulu == instant
    assert new_york.astimezone(NEW_YORK).strftime("%a %H:%M") == "Mon 00:30"
    assert new_york - instant == datetime.timedelta(days=2)
    assert honolulu.astimezone(HONOLULU).strftime("%a %H:%M") == "Fri 19:30"


def test_a_text_due_at_ten_at_night_waits_for_eight_in_the_morning_and_goes_then(
    django_capture_on_commit_callbacks,
):
    monday_10pm = MONDAY_2PM.replace(hour=22)
    cadence_of({"channel": "sms"}, is_default=False, products=["night"])
    with time_machine.travel(monday_10pm, tick=False) as traveller:
        lead = consented_lead(product="night")
        enrolled(lead, django_capture_on_commit_callbacks)

        touch = Touch.objects.get(lead=lead, cadence_step__isnull=False)
        assert touch.status == TouchStatus.SCHEDULED and touch.deferrals == 1
        assert touch.due_at.astimezone(NEW_YORK).strftime("%a %H:%M") == "Tue 08:00"
        assert "Waiting until allowed" in touch.status_note
        assert texts_to(lead) == []

        traveller.move_to(touch.due_at)
        with django_capture_on_commit_callbacks(execute=True):
            assert due_touches_dispatch() == 1

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert texts_to(lead) == [f"Hi {lead.first_name} Reply STOP to opt out."]


# The fast lane ----------------------------------------------------------------------------


def test_a_lead_posted_through_the_api_gets_its_first_text_and_email_at_once(
    client, source, monday_2pm, django_capture_on_commit_callbacks
):
    consent = lead_payload()["consent"] | {
        "captured_at": (timezone.now() - datetime.timedelta(minutes=2)).isoformat(),
        "channels": ["call", "sms", "email"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, source, lead_payload(consent=consent))
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])

    enrollment = CadenceEnrollment.objects.get(lead=lead)
    assert enrollment.cadence.name == "Speed to lead"
    assert enrollment.status == EnrollmentStatus.ACTIVE
    assert plan_of(lead) == [
        ("sms", TouchStatus.SENT),
        ("email", TouchStatus.SENT),
        ("call_task", TouchStatus.SCHEDULED),
        ("bridge", TouchStatus.SCHEDULED),
        ("email", TouchStatus.SCHEDULED),
        ("bridge", TouchStatus.SCHEDULED),
        ("sms", TouchStatus.SCHEDULED),
        ("bridge", TouchStatus.SCHEDULED),
    ]
    (text,) = texts_to(lead)
    assert text.startswith(
        "Hi Dana, this is Brightside Home Services. Thanks for asking about solar"
    )
    (email,) = [message for message in mail.outbox if message.to == [lead.email]]
    assert email.subject == "Your solar with Brightside Home Services"
    assert "(305) 555-0100" in email.body
    call_task = Touch.objects.get(lead=lead, cadence_step__channel="call_task")
    assert call_task.channel == "call" and not call_task.automated
    assert call_task.due_at == lead.processed_at
    bridges = Touch.objects.filter(lead=lead, cadence_step__channel="bridge").order_by("due_at")
    assert all(bridge.automated and bridge.channel == "call" for bridge in bridges)
    assert bridges[0].due_at == lead.received_at + datetime.timedelta(minutes=5)


def test_a_step_without_consent_for_its_channel_is_planned_as_skipped(
    monday_2pm, django_capture_on_commit_callbacks
):
    lead = LeadFactory()
    ConsentRecordFactory(lead=lead, channels=["call"])
    enrolled(lead, django_capture_on_commit_callbacks)

    texts = Touch.objects.filter(lead=lead, cadence_step__channel="sms")
    assert {touch.status for touch in texts} == {TouchStatus.SKIPPED}
    assert "no consent to sms" in texts[0].status_note.lower()
    assert texts_to(lead) == []
    assert Touch.objects.get(lead=lead, cadence_step__position=4).status == TouchStatus.SCHEDULED


def test_a_lead_is_enrolled_once(monday_2pm, django_capture_on_commit_callbacks):
    lead = consented_lead()
    first = enrolled(lead, django_capture_on_commit_callbacks)
    again = enrolled(lead, django_capture_on_commit_callbacks)

    assert first == again
    assert Touch.objects.filter(lead=lead, cadence_step__isnull=False).count() == 8


# Stop conditions --------------------------------------------------------------------------


def _reply(lead, rep):
    sms_reply_receive(from_phone=str(lead.phone), body="Yes, call me after 5")


def _stop_word(lead, rep):
    sms_reply_receive(from_phone=str(lead.phone), body="STOP")


def _email_unsubscribe(lead, rep):
    suppression_add(origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE, email=lead.email, scope="email")


def _call_outcome(disposition):
    def record(lead, rep):
        _, attempt = call_start(lead=lead, rep=rep)
        call_outcome_record(attempt=attempt, disposition=disposition, notes="", rep=rep)

    return record


def _conversion(kind, revenue=None):
    def record(lead, rep):
        conversion_record(lead=lead, kind=kind, origin="admin", revenue=revenue)

    return record


def _status(target):
    def advance(lead, rep):
        status_advance(lead=lead, target=target)

    return advance


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_reply, "The lead replied by text."),
        (_stop_word, "The lead opted out."),
        (_email_unsubscribe, "The lead opted out."),
        (_call_outcome(Disposition.CONTACTED), "The lead was contacted."),
        (_conversion("appointment"), "An appointment was set."),
        (_conversion("sale", Decimal("1200.00")), "A sale was recorded."),
        (_call_outcome(Disposition.NOT_INTERESTED), "The lead was contacted."),
        (_call_outcome(Disposition.BAD_NUMBER), "The lead is invalid."),
        (_status("lost"), "The lead is lost."),
        (_status("returned"), "The lead is returned to source."),
        (_status("do_not_contact"), "The lead is do not contact."),
    ],
    ids=[
        "reply",
        "stop-word",
        "email-unsubscribe",
        "contact",
        "appointment",
        "sale",
        "not-interested",
        "bad-number",
        "lost",
        "returned",
        "do-not-contact",
    ],
)
def test_the_cadence_stops_and_its_pending_touches_are_cancelled(
    event, reason, rep, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    pending = list(
        Touch.objects.filter(lead=lead, cadence_step__isnull=False, status=TouchStatus.SCHEDULED)
    )
    assert len(pending) == 6

    with django_capture_on_commit_callbacks(execute=True):
        event(Lead.objects.get(pk=lead.pk), rep)

    enrollment = CadenceEnrollment.objects.get(lead=lead)
    assert (enrollment.status, enrollment.stop_reason) == (EnrollmentStatus.STOPPED, reason)
    for touch in pending:
        touch.refresh_from_db()
        assert touch.status in (TouchStatus.CANCELLED, TouchStatus.DONE)
    assert Touch.objects.filter(
        lead=lead, status=TouchStatus.CANCELLED, status_note=f"Cadence stopped: {reason}"
    ).exists()
    # Sent ones are the record of what happened: they stay sent.
    assert Touch.objects.filter(lead=lead, status=TouchStatus.SENT).count() == 2


def test_an_imported_list_of_opt_outs_stops_the_cadences_of_the_leads_on_it(
    tmp_path, monday_2pm, django_capture_on_commit_callbacks
):
    listed, other = consented_lead(), consented_lead()
    enrolled(listed, django_capture_on_commit_callbacks)
    enrolled(other, django_capture_on_commit_callbacks)
    path = tmp_path / "opt-outs.txt"
    path.write_text(f"{listed.phone}\n")

    with django_capture_on_commit_callbacks(execute=True):
        suppressions_import(path=path, reason="Vendor's list")

    assert CadenceEnrollment.objects.get(lead=listed).status == EnrollmentStatus.STOPPED
    assert CadenceEnrollment.objects.get(lead=other).status == EnrollmentStatus.ACTIVE


def test_a_queued_text_for_a_lead_reached_meanwhile_is_skipped_not_sent(
    monday_2pm, django_capture_on_commit_callbacks
):
    cadence_of({"channel": "sms", "delay_minutes": 60}, products=["later"])
    lead = consented_lead(product="later")
    enrolled(lead, django_capture_on_commit_callbacks)
    # Reached by a path that does not stop cadences (say, a sale entered elsewhere).
    Lead.objects.filter(pk=lead.pk).update(first_contact_at=timezone.now())

    monday_2pm.shift(datetime.timedelta(minutes=61))
    with django_capture_on_commit_callbacks(execute=True):
        due_touches_dispatch()

    touch = Touch.objects.get(lead=lead, cadence_step__isnull=False)
    assert touch.status == TouchStatus.SKIPPED
    assert "spoken with the lead" in touch.status_note
    assert texts_to(lead) == []


def test_a_cadence_finishes_once_its_last_step_has_passed_with_nothing_left(
    monday_2pm, django_capture_on_commit_callbacks
):
    cadence_of({"channel": "sms"}, {"channel": "sms", "delay_minutes": 30}, products=["two"])
    lead = consented_lead(product="two")
    enrolled(lead, django_capture_on_commit_callbacks)

    assert cadences_finish() == 0  # the second text is still to come
    monday_2pm.shift(datetime.timedelta(minutes=31))
    assert cadences_finish() == 0  # due, not yet sent
    with django_capture_on_commit_callbacks(execute=True):
        due_touches_dispatch()
    assert cadences_finish() == 1
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.FINISHED


# Call tasks in the rep's queue ------------------------------------------------------------


def test_a_due_call_task_rings_the_rep_and_tops_their_queue(
    rep, rep_client, monday_2pm, django_capture_on_commit_callbacks
):
    cadence_of({"channel": "call_task", "delay_minutes": 60}, products=["calls"])
    lead = consented_lead(
        product="calls", owner=rep, first_attempt_at=timezone.now() - datetime.timedelta(hours=1)
    )
    enrolled(lead, django_capture_on_commit_callbacks)
    assert due_callbacks_alert() == 0

    monday_2pm.shift(datetime.timedelta(minutes=61))
    assert due_callbacks_alert() == 1

    lead.refresh_from_db()
    assert lead.priority == CALL_TASK_DUE
    (alert,) = Alert.objects.filter(user=rep, lead=lead)
    assert alert.message.startswith("Cadence call due:")
    page = rep_client.get("/leads/").content.decode()
    assert "cadence call due" in page
    # The rep's call answers it.
    call_start(lead=lead, rep=rep)
    assert Touch.objects.get(lead=lead, cadence_step__isnull=False).status == TouchStatus.DONE


def test_a_due_call_task_for_a_lead_reached_already_is_skipped_without_an_alert(
    rep, monday_2pm, django_capture_on_commit_callbacks
):
    cadence_of({"channel": "call_task", "delay_minutes": 60}, products=["calls"])
    lead = consented_lead(product="calls", owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    Lead.objects.filter(pk=lead.pk).update(first_contact_at=timezone.now())

    monday_2pm.shift(datetime.timedelta(minutes=61))
    due_callbacks_alert()

    touch = Touch.objects.get(lead=lead, cadence_step__isnull=False)
    assert touch.status == TouchStatus.SKIPPED
    assert not Alert.objects.filter(lead=lead).exists()


def test_a_bridge_call_is_not_the_reps_to_make(rep, monday_2pm, django_capture_on_commit_callbacks):
    cadence_of({"channel": "bridge", "delay_minutes": 5}, products=["bridge"])
    lead = consented_lead(product="bridge", owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)

    monday_2pm.shift(datetime.timedelta(minutes=6))
    assert due_callbacks_alert() == 0
    bridge = Touch.objects.get(lead=lead, cadence_step__isnull=False)
    assert (bridge.status, bridge.automated, bridge.queued_at) == (
        TouchStatus.SCHEDULED,
        True,
        None,
    )


# Pause and resume -------------------------------------------------------------------------


def test_a_paused_cadence_sends_nothing_and_resumes_with_its_spacing_from_now(
    rep, rep_client, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    sent_before = len(texts_to(lead))

    response = rep_client.post(f"/leads/{lead.pk}/cadence/pause/")

    assert response.status_code == 302
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.PAUSED
    held = Touch.objects.filter(lead=lead, status=TouchStatus.HELD)
    assert held.count() == 6
    monday_2pm.shift(datetime.timedelta(days=3))  # every step but the last is due
    with django_capture_on_commit_callbacks(execute=True):
        assert due_touches_dispatch() == 0
    assert due_callbacks_alert() == 0
    assert len(texts_to(lead)) == sent_before

    resumed_at = timezone.now()
    response = rep_client.post(f"/leads/{lead.pk}/cadence/resume/")

    assert response.status_code == 302
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.ACTIVE
    plan = Touch.objects.filter(lead=lead, cadence_step__position__gte=3).order_by(
        "cadence_step__position"
    )
    offsets = [(touch.due_at - resumed_at) for touch in plan]
    assert {touch.status for touch in plan} == {TouchStatus.SCHEDULED}
    assert offsets[:3] == [
        datetime.timedelta(0),
        datetime.timedelta(minutes=5),
        datetime.timedelta(hours=1),
    ]
    assert offsets[-1] == datetime.timedelta(days=4)  # the last step, 4 days after the first


def test_pausing_twice_says_so_and_a_lead_without_a_cadence_cannot_be_paused(
    rep, rep_client, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    bare = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    rep_client.post(f"/leads/{lead.pk}/cadence/pause/")

    again = rep_client.post(f"/leads/{lead.pk}/cadence/pause/", follow=True)
    none = rep_client.post(f"/leads/{bare.pk}/cadence/resume/", follow=True)

    assert "Follow-up: The cadence is paused." in again.content.decode()
    assert "Follow-up: This lead follows no cadence." in none.content.decode()


def test_another_reps_lead_cannot_be_paused_but_a_manager_can(
    rep, other_rep, client, manager, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)

    client.force_login(other_rep)
    assert client.post(f"/leads/{lead.pk}/cadence/pause/").status_code == 404
    assert client.post(f"/leads/{lead.pk}/cadence/stop-everything/").status_code == 404
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.ACTIVE
    client.force_login(manager)
    assert client.post(f"/leads/{lead.pk}/cadence/pause/").status_code == 302
    enrollment = CadenceEnrollment.objects.get(lead=lead)
    assert enrollment.status == EnrollmentStatus.PAUSED
    assert enrollment.stop_reason.startswith("Paused by")


def test_a_closed_lead_cannot_be_resumed(rep, monday_2pm, django_capture_on_commit_callbacks):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    cadence_pause(lead=lead, by=rep)
    Lead.objects.filter(pk=lead.pk).update(status="won")  # closed some other way

    with pytest.raises(ValueError, match="The lead is won"):
        cadence_resume(lead=Lead.objects.get(pk=lead.pk), by=rep)


# The lead page ----------------------------------------------------------------------------


def test_the_lead_page_shows_the_plan_in_the_leads_time_with_its_zone(
    rep, rep_client, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    Touch.objects.filter(lead=lead, cadence_step__position=6).update(
        status=TouchStatus.BLOCKED, status_note="Florida allows 3 calls a day."
    )

    page = rep_client.get(f"/leads/{lead.pk}/").content.decode()

    assert "Follow-up: Speed to lead" in page
    assert "Pause follow-up" in page and "Resume follow-up" not in page
    assert "Mon Nov 23, 14:05 EST" in page  # the first call, 5 minutes in, their time
    assert "Nov 23, 19:05 UTC" in page
    assert "America/New_York" in page
    assert "Florida allows 3 calls a day." in page
    assert "Lead-to-call" in page and "Call task" in page
    # A call task is no callback the lead asked for.
    assert "Move the callback" not in page


# Templates --------------------------------------------------------------------------------


def test_a_template_renders_the_lead_the_rep_and_the_business_without_escaping(rep):
    rep.first_name, rep.last_name = "Riley", "O'Neil"
    lead = LeadFactory(first_name="Seán", last_name="O'Brien & <Sons>", owner=rep, city="Tampa")

    text = message_render(
        source="Hi {{ lead.full_name }} in {{ lead.city|upper }}: {{ rep.full_name }}, "
        "{{ business.name }} ({{ business.phone }}) {% if lead.product %}re {{ lead.product }}"
        "{% endif %}",
        context=context_for(lead=lead),
    )

    assert text == (
        "Hi Seán O'Brien & <Sons> in TAMPA: Riley O'Neil, Brightside Home Services "
        "((305) 555-0100) re solar"
    )


@pytest.mark.parametrize(
    "source",
    [
        "{% load static %}{% static 'x' %}",
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% for a in lead.full_name %}{% for b in lead.full_name %}x{% endfor %}{% endfor %}",
        "{{ lead.first_name|ljust:999999999 }}",
        "{{ lead.first_name|stringformat:'0999999999d' }}",
        "{% lorem 99999 w %}",
        "{% debug %}",
        "{{ lead.__class__ }}",
        "{% if lead.first_name %}unclosed",
        "{{ lead.first_name",  # renders as text: not a tag, harmless
        "x" * 6000,
        "a\x00b",
    ],
)
def test_a_hostile_or_broken_template_is_refused_and_never_raises_at_send(source, caplog):
    context = context_for(lead=LeadFactory())
    try:
        template_check(source)
    except Exception as error:
        assert type(error).__name__ == "TemplateSyntaxError"
        with caplog.at_level(logging.ERROR):
            assert message_render(source=source, context=context) == fallback_message(kind="body")
        assert "could not be rendered" in caplog.text
    else:
        assert source == "{{ lead.first_name"
        assert message_render(source=source, context=context) == source


def test_a_message_is_cut_to_its_limit_and_a_blank_one_falls_back():
    context = context_for(lead=LeadFactory())

    assert len(message_render(source="y" * 4000, context=context)) == 640
    assert message_render(source="{{ rep.first_name }}", context=context) == fallback_message(
        kind="body"
    )
    assert (
        message_render(source="Hi\n{{ lead.city }}\r\nBcc: x", context=context, kind="subject")
        == "Hi Miami Bcc: x"
    )


def test_rendering_never_raises_even_when_the_engine_does(monkeypatch):
    from leads.cadences import templates

    def broken(source):
        raise RecursionError("deep")

    monkeypatch.setattr(templates.ENGINE, "from_string", broken)
    assert message_render(source="Hi", context={}) == fallback_message(kind="body")


def test_a_steps_channel_without_an_address_is_skipped_at_planning(
    monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(email="")
    enrolled(lead, django_capture_on_commit_callbacks)

    emails = Touch.objects.filter(lead=lead, cadence_step__channel=StepChannel.EMAIL)
    assert {(touch.status, touch.status_note) for touch in emails} == {
        (TouchStatus.SKIPPED, "Skipped: the lead gave no email address.")
    }


# Real PostgreSQL locking, a real worker on Redis -------------------------------------------


@pytest.fixture
def speed_to_lead():
    """The migration's cadence: a transactional test empties every table after it."""
    import_module("leads.migrations.0013_cadences").default_cadence_create(apps, None)


@pytest.mark.django_db(transaction=True)
def test_a_pause_leaves_a_text_a_send_task_has_claimed_and_holds_the_rest(
    speed_to_lead, rep, monkeypatch
):
    require_service(
        "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL URL"
    )
    with time_machine.travel(MONDAY_2PM, tick=False):
        lead = consented_lead(owner=rep)
        monkeypatch.setattr("leads.tasks.send_touches.apply_async", lambda *a, **k: None)
        cadence_start(lead=lead, at=timezone.now())  # its sends are queued, never run
    text = Touch.objects.get(lead=lead, cadence_step__position=1)
    assert text.status == TouchStatus.QUEUED
    claimed, release = threading.Event(), threading.Event()

    def send_task_claims_it():
        # What touch_send does: claim the queued row, then mark it sending, in one transaction.
        try:
            with transaction.atomic():
                Touch.objects.select_for_update().get(pk=text.pk, status=TouchStatus.QUEUED)
                claimed.set()
                release.wait(10)
                Touch.objects.filter(pk=text.pk).update(status=TouchStatus.SENDING)
        finally:
            connections.close_all()

    def pause():
        try:
            claimed.wait(10)
            threading.Timer(0.5, release.set).start()  # the pause waits on the claimed row
            cadence_pause(lead=Lead.objects.get(pk=lead.pk), by=rep)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send_task_claims_it), threading.Thread(target=pause)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    text.refresh_from_db()
    assert text.status == TouchStatus.SENDING
    assert Touch.objects.filter(lead=lead, status=TouchStatus.HELD).count() == 7
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.PAUSED


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_texts_and_emails_a_posted_lead_at_once(speed_to_lead, client, source):
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    queue = f"test-cadences-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    mail.outbox = []
    try:
        with (
            time_machine.travel(MONDAY_2PM),
            start_worker(celery_app, perform_ping_check=False, queues=[queue]),
        ):
            consent = lead_payload()["consent"] | {
                "captured_at": (timezone.now() - datetime.timedelta(minutes=2)).isoformat(),
                "channels": ["call", "sms", "email"],
            }
            response = post(client, source, lead_payload(consent=consent))
            lead = Lead.objects.get(pk=response.json()["id"])
            deadline = time.monotonic() + 20
            sent = Touch.objects.filter(lead=lead, status=TouchStatus.SENT)
            while time.monotonic() < deadline and sent.count() < 2:
                time.sleep(0.05)
    finally:
        celery_app.conf.task_default_queue = "celery"

    assert plan_of(lead)[:3] == [
        ("sms", TouchStatus.SENT),
        ("email", TouchStatus.SENT),
        ("call_task", TouchStatus.SCHEDULED),
    ]
    assert len(texts_to(lead)) == 1
    assert [message.to for message in mail.outbox] == [[lead.email]]


def test_a_paused_cadence_stops_too_and_its_held_touches_are_cancelled(
    rep, monday_2pm, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)
    enrolled(lead, django_capture_on_commit_callbacks)
    cadence_pause(lead=lead, by=rep)

    with django_capture_on_commit_callbacks(execute=True):
        sms_reply_receive(from_phone=str(lead.phone), body="stop")

    enrollment = CadenceEnrollment.objects.get(lead=lead)
    assert enrollment.status == EnrollmentStatus.STOPPED
    assert not Touch.objects.filter(lead=lead, status=TouchStatus.HELD).exists()
    with pytest.raises(ValueError, match="The cadence is stopped"):
        cadence_resume(lead=lead, by=rep)


def test_no_cadence_for_a_closed_lead_nor_when_none_is_active(
    monday_2pm, django_capture_on_commit_callbacks
):
    closed = consented_lead(status="lost")
    assert enrolled(closed, django_capture_on_commit_callbacks) is None
    Cadence.objects.update(is_active=False)
    assert enrolled(consented_lead(), django_capture_on_commit_callbacks) is None
    assert not Touch.objects.exists()


def test_a_reply_whose_stop_was_lost_still_keeps_the_next_text_from_going(
    monday_2pm, django_capture_on_commit_callbacks, monkeypatch
):
    cadence_of({"channel": "sms", "delay_minutes": 60}, products=["later"])
    lead = consented_lead(product="later")
    enrolled(lead, django_capture_on_commit_callbacks)
    # Redis away: the stop queued by name never runs, the reply is logged all the same.
    monkeypatch.setattr("leads.tasks.stop_cadence.apply_async", lambda *a, **k: None)
    with django_capture_on_commit_callbacks(execute=True):
        sms_reply_receive(from_phone=str(lead.phone), body="Who is this?")
    assert CadenceEnrollment.objects.get(lead=lead).status == EnrollmentStatus.ACTIVE

    monday_2pm.shift(datetime.timedelta(minutes=61))
    with django_capture_on_commit_callbacks(execute=True):
        due_touches_dispatch()

    touch = Touch.objects.get(lead=lead, cadence_step__isnull=False)
    assert (touch.status, touch.status_note) == (
        TouchStatus.SKIPPED,
        "Skipped: the lead replied by text.",
    )
    assert texts_to(lead) == []


def test_the_messages_still_to_come_name_the_rep_the_lead_is_given_to(
    rep, monday_2pm, django_capture_on_commit_callbacks
):
    from leads.workspace.routing import lead_assign

    lead = consented_lead()  # waits in the pool: no rep yet
    enrolled(lead, django_capture_on_commit_callbacks)
    later = Touch.objects.get(lead=lead, cadence_step__position=7)
    sent = Touch.objects.get(lead=lead, cadence_step__position=1)
    assert "Riley" not in later.body

    lead_assign(lead=lead, rep_user=rep, reason="manager")

    later.refresh_from_db()
    assert later.body.startswith(f"Hi {lead.first_name}, Riley from {BUSINESS} again.")
    assert Touch.objects.get(pk=sent.pk).body == sent.body  # what was sent stays as sent
