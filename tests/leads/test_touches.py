"""Texts, emails and calls to leads: each is decided by the gate when planned and when sent."""

import datetime
import os
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core import mail
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from compliance.models import (
    ContactDecision,
    DecisionStage,
    DncList,
    DncListKind,
    DncListStatus,
    Suppression,
    SuppressionOrigin,
)
from compliance.suppressions import suppression_add
from crm import sms
from crm.celery import app as celery_app
from leads.cadences.touches import due_touches_dispatch, touch_schedule, touch_send
from leads.models import ContactAttempt, Disposition, Lead, Touch, TouchStatus
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory

# Tasks run here, not on a broker (the real-worker test turns this off for itself).
pytestmark = pytest.mark.usefixtures("eager_tasks")

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
MONDAY_10PM = MONDAY_10AM.replace(hour=22)


@pytest.fixture(autouse=True)
def business(settings, db):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    sms.outbox.clear()
    DncList.objects.create(
        kind=DncListKind.NATIONAL,
        list_date=MONDAY_10AM.date() - datetime.timedelta(days=2),
        status=DncListStatus.READY,
    )


@pytest.fixture
def at_monday_10am():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def consented_lead(**fields):
    fields.setdefault("received_at", MONDAY_10AM - datetime.timedelta(days=1))
    lead = LeadFactory(phone=fields.pop("phone", "+13055550100"), **fields)
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def texts_to(lead) -> list[str]:
    return [message.body for message in sms.outbox if message.to == str(lead.phone)]


def test_an_allowed_text_is_sent_and_both_decisions_are_kept(
    at_monday_10am, django_capture_on_commit_callbacks
):
    lead = consented_lead()

    with django_capture_on_commit_callbacks(execute=True):
        touch = touch_schedule(lead=lead, channel="sms", body="Your solar quote is ready.")

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert texts_to(lead) == ["Your solar quote is ready. Reply STOP to opt out."]
    decisions = ContactDecision.objects.filter(touch=touch).order_by("created_at", "pk")
    assert [(d.stage, d.allowed) for d in decisions] == [
        (DecisionStage.SCHEDULED, True),
        (DecisionStage.SENDING, True),
    ]
    assert decisions[1].attempt == touch.attempt
    assert touch.attempt.channel == "sms" and touch.attempt.direction == "outbound"


def test_an_opt_out_recorded_while_a_text_is_queued_blocks_it_at_send(
    at_monday_10am, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    with django_capture_on_commit_callbacks() as queued_sends:
        touch = touch_schedule(lead=lead, channel="sms", body="Still interested in solar?")
    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.QUEUED

    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone), scope="sms")
    for send in queued_sends:
        send()

    touch.refresh_from_db()
    assert touch.status == TouchStatus.BLOCKED
    assert "opted out" in touch.status_note.lower() or "opt-out" in touch.status_note.lower()
    assert texts_to(lead) == []
    assert not ContactAttempt.objects.filter(lead=lead).exists()
    sending = ContactDecision.objects.get(touch=touch, stage=DecisionStage.SENDING)
    assert not sending.allowed and sending.first_reason


def test_a_text_planned_at_night_waits_for_the_morning_and_goes_then(
    django_capture_on_commit_callbacks,
):
    lead = consented_lead()
    with time_machine.travel(MONDAY_10PM, tick=False) as traveller:
        with django_capture_on_commit_callbacks(execute=True):
            touch = touch_schedule(lead=lead, channel="sms", body="Good morning!")
        touch.refresh_from_db()
        assert touch.status == TouchStatus.SCHEDULED
        assert touch.due_at == MONDAY_10AM.replace(day=24, hour=8)  # Florida: 8 AM
        assert "9:00 PM" in touch.status_note or "8:00 PM" in touch.status_note

        traveller.move_to(MONDAY_10AM.replace(day=24, hour=7, minute=59))
        with django_capture_on_commit_callbacks(execute=True):
            assert due_touches_dispatch() == 0

        traveller.move_to(MONDAY_10AM.replace(day=24, hour=8))
        with django_capture_on_commit_callbacks(execute=True):
            assert due_touches_dispatch() == 1

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert texts_to(lead) == ["Good morning! Reply STOP to opt out."]


def test_a_text_without_consent_is_blocked_and_never_queued(
    at_monday_10am, django_capture_on_commit_callbacks
):
    lead = LeadFactory(phone="+13055550100")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        touch = touch_schedule(lead=lead, channel="sms", body="Hi!")

    touch.refresh_from_db()
    assert touch.status == TouchStatus.BLOCKED
    assert "consent" in touch.status_note.lower()
    assert callbacks == []
    assert texts_to(lead) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert due_touches_dispatch() == 0


def test_a_marketing_email_carries_the_address_and_one_click_unsubscribe(
    at_monday_10am, django_capture_on_commit_callbacks, client
):
    lead = consented_lead(email="dana@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        touch_schedule(lead=lead, channel="email", subject="Your quote", body="Here it is.")

    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    assert "100 Main St, Miami, FL 33130" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message.extra_headers["List-Unsubscribe"].split(",")[0].strip("<>")
    assert link in message.body

    client.post(
        link.removeprefix("https://crm.example.com"),
        {"List-Unsubscribe": "One-Click"},
        secure=True,
    )

    assert Suppression.objects.filter(email="dana@example.com").exists()
    with django_capture_on_commit_callbacks(execute=True):
        again = touch_schedule(lead=lead, channel="email", subject="Again", body="Hi")
    assert Touch.objects.get(pk=again.pk).status == TouchStatus.BLOCKED
    assert len(mail.outbox) == 1


def test_a_send_the_provider_refuses_is_marked_failed_not_retried(
    at_monday_10am, django_capture_on_commit_callbacks, monkeypatch
):
    lead = consented_lead()

    def refuse(**kwargs):
        raise sms.SmsError("Twilio refused the message (400): not a mobile number")

    monkeypatch.setattr("leads.cadences.channels.send_sms", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        touch = touch_schedule(lead=lead, channel="sms", body="Hi!")

    touch.refresh_from_db()
    assert touch.status == TouchStatus.FAILED
    assert "not a mobile number" in touch.status_note
    assert touch_send(touch_id=touch.pk) is None  # a second message for it sends nothing


def test_a_lost_queue_message_is_queued_again_by_the_clock(
    at_monday_10am, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    with django_capture_on_commit_callbacks():  # the send task's message is lost
        touch = touch_schedule(lead=lead, channel="sms", body="Hi!")

    with django_capture_on_commit_callbacks(execute=True):
        assert due_touches_dispatch() == 0  # not yet: it may still be on its way
    at_monday_10am.shift(datetime.timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert due_touches_dispatch() == 1

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert len(texts_to(lead)) == 1


# The rep's lead page


def test_a_rep_texts_a_lead_from_the_lead_page(
    rep_client, rep, at_monday_10am, django_capture_on_commit_callbacks
):
    lead = consented_lead(owner=rep)

    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            reverse("lead_touch_create", args=[lead.pk, "sms"]),
            {"body": "Hi, it's Alex."},
            follow=True,
        )

    assert "The text message is on its way." in response.content.decode()
    response = rep_client.get(reverse("lead_detail", args=[lead.pk]))
    assert "Hi, it&#x27;s Alex." in response.content.decode()  # listed with its status
    assert texts_to(lead) == ["Hi, it's Alex. Reply STOP to opt out."]
    assert Touch.objects.get(lead=lead).created_by == rep
    assert ContactAttempt.objects.get(lead=lead).rep == rep


def test_a_rep_is_told_why_a_text_cannot_go(rep_client, rep, at_monday_10am):
    lead = consented_lead(owner=rep)
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone), scope="sms")

    response = rep_client.post(
        reverse("lead_touch_create", args=[lead.pk, "sms"]), {"body": "Hi"}, follow=True
    )

    page = response.content.decode()
    assert "Not sent: the text message is not allowed." in page
    assert texts_to(lead) == []


def test_an_empty_text_is_refused_with_the_field_named(rep_client, rep, at_monday_10am):
    lead = consented_lead(owner=rep)

    response = rep_client.post(
        reverse("lead_touch_create", args=[lead.pk, "sms"]), {"body": ""}, follow=True
    )

    assert "Text message: This field is required." in response.content.decode()
    assert not Touch.objects.exists()


def test_a_rep_cannot_text_another_reps_lead(rep_client, other_rep, at_monday_10am):
    lead = consented_lead(owner=other_rep)

    response = rep_client.post(reverse("lead_touch_create", args=[lead.pk, "sms"]), {"body": "x"})

    assert response.status_code == 404
    assert texts_to(lead) == []


def test_a_call_is_logged_when_allowed_and_its_outcome_recorded(rep_client, rep, at_monday_10am):
    lead = consented_lead(owner=rep)

    page = rep_client.post(reverse("lead_call_start", args=[lead.pk]), follow=True)

    assert "Call logged. Dial (305) 555-0100 now." in page.content.decode()
    attempt = ContactAttempt.objects.get(lead=lead, channel="call")
    decision = ContactDecision.objects.get(lead=lead, stage=DecisionStage.MANUAL)
    assert decision.allowed and decision.attempt == attempt and decision.requested_by == rep

    rep_client.post(
        reverse("lead_call_outcome", args=[lead.pk, attempt.pk]),
        {"disposition": Disposition.DO_NOT_CONTACT, "notes": "Asked us to stop"},
    )

    attempt.refresh_from_db()
    assert attempt.disposition == Disposition.DO_NOT_CONTACT and attempt.ended_at
    assert Suppression.objects.filter(phone=lead.phone, origin=SuppressionOrigin.REP).exists()


def test_the_first_call_and_the_first_conversation_are_timed_from_arrival(
    rep_client, rep, at_monday_10am
):
    lead = consented_lead(owner=rep)
    Lead.objects.filter(pk=lead.pk).update(
        received_at=timezone.now() - datetime.timedelta(minutes=4)
    )
    first = rep_client.post(reverse("lead_call_start", args=[lead.pk]))
    attempt = ContactAttempt.objects.get(lead=lead)
    rep_client.post(
        reverse("lead_call_outcome", args=[lead.pk, attempt.pk]),
        {"disposition": Disposition.NO_ANSWER, "notes": ""},
    )
    lead.refresh_from_db()
    assert first.status_code == 302
    assert lead.time_to_first_attempt == datetime.timedelta(minutes=4)
    assert lead.first_contact_at is None  # nobody answered

    rep_client.post(reverse("lead_call_start", args=[lead.pk]))
    second = ContactAttempt.objects.filter(lead=lead).latest("started_at")
    rep_client.post(
        reverse("lead_call_outcome", args=[lead.pk, second.pk]),
        {"disposition": Disposition.CONTACTED, "notes": "Wants a quote"},
    )
    lead.refresh_from_db()
    assert lead.first_attempt_at == attempt.started_at  # still the first call
    assert lead.first_contact_at == second.started_at
    page = rep_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "4 min after it arrived" in page


def test_a_call_at_night_is_refused_with_the_reason_and_not_logged(rep_client, rep):
    lead = consented_lead(owner=rep)

    with time_machine.travel(MONDAY_10PM, tick=False):
        page = rep_client.post(reverse("lead_call_start", args=[lead.pk]), follow=True)

    text = page.content.decode()
    assert "Do not call now." in text and "federal rules allow calls" in text
    assert not ContactAttempt.objects.filter(lead=lead).exists()
    assert ContactDecision.objects.get(lead=lead, stage=DecisionStage.MANUAL).allowed is False


# Real PostgreSQL locking


@pytest.mark.django_db(transaction=True)
def test_two_clocks_hand_out_each_due_touch_once(monkeypatch):
    require_service(
        "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL URL"
    )
    lead = consented_lead()
    touches = Touch.objects.bulk_create(
        Touch(lead=lead, channel="sms", body=f"#{n}", due_at=MONDAY_10AM) for n in range(200)
    )
    handed_out: list[int] = []
    monkeypatch.setattr(
        "leads.tasks.send_touches.apply_async", lambda args, *_, **__: handed_out.extend(args[0])
    )
    monkeypatch.setattr("leads.cadences.outbound.DISPATCH_BATCH", 7)
    barrier = threading.Barrier(2)

    def tick():
        try:
            barrier.wait()
            while due_touches_dispatch(now=MONDAY_10AM + datetime.timedelta(seconds=1)):
                pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(handed_out) == sorted(touch.pk for touch in touches)
    assert set(Touch.objects.values_list("status", flat=True)) == {TouchStatus.QUEUED}


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_queued_text_through_redis():
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    queue = f"test-touches-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    lead = consented_lead()
    try:
        with (
            time_machine.travel(MONDAY_10AM),
            start_worker(celery_app, perform_ping_check=False, queues=[queue]),
        ):
            touch = touch_schedule(lead=lead, channel="sms", body="Sent by a worker.")
            deadline = time.monotonic() + 20
            sent = Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENT)
            while time.monotonic() < deadline and not sent.exists():
                time.sleep(0.1)
    finally:
        celery_app.conf.task_default_queue = "celery"

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT, touch.status_note
    assert texts_to(lead) == ["Sent by a worker. Reply STOP to opt out."]
