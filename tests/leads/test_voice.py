"""The lead-to-call bridge, through a local server that answers like Twilio's Calls API and
Twilio's signed webhooks: the rep is rung first, the lead dialled only once the rep pressed 1.
"""

import datetime
import os
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, connections
from django.urls import reverse
from twilio.request_validator import RequestValidator

from compliance.models import ContactDecision, DecisionStage, DncList, DncListKind, DncListStatus
from crm.celery import app as celery_app
from leads.models import (
    Cadence,
    CadenceStep,
    ContactAttempt,
    Disposition,
    Lead,
    RepProfile,
    StepChannel,
    Touch,
    TouchStatus,
)
from leads.voice.bridge import (
    BridgeTemporaryError,
    Leg,
    bridge_call_place,
    bridge_touches_dispatch,
    stale_bridges_settle,
)
from leads.voice.checks import voice_check
from leads.workspace.timeline import lead_timeline
from tests.concurrency import at_once
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory, RepFactory
from tests.fakes.twilio_calls import start_fake_twilio

pytestmark = pytest.mark.usefixtures("eager_tasks")

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
MONDAY_10PM = MONDAY_10AM.replace(hour=22)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "voice-test-auth-token"
CALLER_ID = "+13055550000"
SITE = "https://crm.example.com"


@pytest.fixture
def twilio():
    fake, server = start_fake_twilio()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def business(settings, db, twilio):
    settings.DEBUG = False
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_NAME = "Brightside Home Services"
    settings.SITE_URL = SITE
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = twilio.url
    settings.VOICE_BACKEND = "crm.telephony.TwilioVoiceBackend"
    settings.VOICE_CALLER_ID = CALLER_ID
    settings.VOICE_RECORD_CALLS = False
    settings.VOICE_RECORDING_NOTICE = "always"
    settings.VOICE_REP_RING_SECONDS = 20
    settings.VOICE_LEAD_RING_SECONDS = 25
    settings.VOICE_MAX_REPS = 3
    DncList.objects.create(
        kind=DncListKind.NATIONAL,
        list_date=MONDAY_10AM.date() - datetime.timedelta(days=2),
        status=DncListStatus.READY,
    )


@pytest.fixture
def at_monday_10am():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


@pytest.fixture
def alex(db):
    user = RepFactory(username="rep.alex", first_name="Alex", last_name="Rivera")
    RepProfile.objects.filter(user=user).update(phone="+13055550111")
    return user


@pytest.fixture
def blair(db):
    user = RepFactory(username="rep.blair", first_name="Blair", last_name="Chen")
    RepProfile.objects.filter(user=user).update(phone="+13055550122")
    return user


def consented_lead(*, consent=True, **fields):
    fields.setdefault("received_at", MONDAY_10AM - datetime.timedelta(minutes=5))
    fields.setdefault("first_name", "Jordan")
    fields.setdefault("city", "Tampa")
    lead = LeadFactory(phone=fields.pop("phone", "+13055550100"), **fields)
    if consent:
        ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def bridge_for(lead, **fields) -> Touch:
    fields.setdefault("due_at", MONDAY_10AM)
    return Touch.objects.create(
        lead=lead, channel="call", automated=True, body="Lead-to-call bridge", **fields
    )


def tick(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return bridge_touches_dispatch()


def signed_post(client, url: str, params: dict, *, token: str = AUTH_TOKEN, signature=None):
    """Post to one of our webhooks as Twilio does: the form, signed over the full URL."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, params)
    return client.post(urlsplit(url).path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def said(root: ET.Element) -> str:
    return " ".join(element.text or "" for element in root.iter("Say"))


def placed(twilio, index=-1) -> dict[str, str]:
    return {name: values[0] for name, values in twilio.created[index].form.items()}


class Call:
    """One rep's leg as Twilio sees it: its sid and the URLs Leadline gave for it."""

    def __init__(self, twilio, client, index=-1):
        self.client = client
        self.form = placed(twilio, index)
        self.sid = next(sid for sid, call in twilio.calls.items() if call["to"] == self.form["To"])
        if index != -1:
            self.sid = list(twilio.calls)[index]

    def answer(self):
        return twiml(signed_post(self.client, self.form["Url"], self.params()))

    def press(self, digits: str, choice_url: str):
        return twiml(signed_post(self.client, choice_url, self.params(Digits=digits)))

    def status(self, call_status: str, duration="0"):
        response = signed_post(
            self.client,
            self.form["StatusCallback"],
            self.params(CallStatus=call_status, CallDuration=duration),
        )
        assert response.status_code == 200, response.content
        return response

    def params(self, **extra) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.sid,
            "From": CALLER_ID,
            "To": self.form["To"],
            "Direction": "outbound-api",
            **extra,
        }


def connect(call: Call):
    """The rep answers and presses 1: return the TwiML that dials the lead."""
    gather = call.answer().find("Gather")
    return call.press("1", gather.get("action"))


def test_the_rep_is_rung_first_then_the_lead_and_one_attempt_is_logged(
    at_monday_10am, django_capture_on_commit_callbacks, client, twilio, alex
):
    lead = consented_lead(owner=alex, product="solar")
    touch = bridge_for(lead)

    assert tick(django_capture_on_commit_callbacks) == 1

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENDING and touch.bridge_reps == [alex.pk]
    assert len(twilio.created) == 1
    request = twilio.created[0]
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert (request.account, request.password) == (ACCOUNT_SID, AUTH_TOKEN)
    rep_leg = Call(twilio, client)
    assert rep_leg.form["To"] == "+13055550111"  # the rep, not the lead
    assert rep_leg.form["From"] == CALLER_ID
    assert int(rep_leg.form["Timeout"]) >= 15
    assert rep_leg.form["Url"].startswith(f"{SITE}/webhooks/voice/")
    assert touch.provider_message_id == rep_leg.sid

    # The rep hears who the lead is; nothing dials the lead yet.
    answered = rep_leg.answer()
    assert answered.find(".//Dial") is None and answered.find(".//Number") is None
    gather = answered.find("Gather")
    assert gather.get("numDigits") == "1"
    spoken = said(answered)
    for fact in ("Jordan", "Tampa", "solar", lead.source.name, "Brightside Home Services"):
        assert fact in spoken
    assert "Press 1" in spoken
    assert not ContactAttempt.objects.filter(lead=lead).exists()

    dialled = rep_leg.press("1", gather.get("action"))
    dial = dialled.find("Dial")
    assert dial.get("callerId") == CALLER_ID
    assert int(dial.get("timeout")) >= 15
    assert dial.find("Number").text == "+13055550100"
    assert dial.find("Number").get("url") is None  # not recorded: nothing before the rep
    attempt = ContactAttempt.objects.get(lead=lead)
    assert attempt.rep == alex and attempt.channel == "call"
    lead.refresh_from_db()
    assert lead.first_attempt_at == attempt.started_at == MONDAY_10AM
    assert lead.sla_due_at is None

    ended = {**rep_leg.params(), "DialCallStatus": "completed", "DialCallDuration": "192"}
    for _ in range(2):  # Twilio retries a callback it got no answer to: nothing doubles
        twiml(signed_post(client, dial.get("action"), ended | {"DialCallSid": "CA" + "f" * 32}))
    rep_leg.status("completed", "230")

    attempt = ContactAttempt.objects.get(lead=lead)
    assert attempt.duration_seconds == 192
    assert attempt.disposition == ""  # connected: the rep records how it went
    assert attempt.notes.startswith("Lead-to-call bridge")
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.attempt == attempt
    assert len(twilio.created) == 1  # never a second call
    titles = [event.title for event in lead_timeline(lead=lead)]
    assert "Lead-to-call bridge: connected 3 min 12 s with Alex Rivera" in titles
    stages = ContactDecision.objects.filter(touch=touch).values_list("stage", "allowed")
    assert set(stages) == {(DecisionStage.SENDING, True)}


@pytest.mark.parametrize(
    "name",
    [
        "voice_rep_answer",
        "voice_rep_choice",
        "voice_lead_notice",
        "voice_lead_ended",
        "voice_rep_status",
    ],
)
@pytest.mark.parametrize("signature", ["", "forged", "other-token"])
def test_every_voice_webhook_refuses_an_unsigned_or_forged_post(
    at_monday_10am, client, alex, name, signature
):
    touch = bridge_for(
        consented_lead(owner=alex), status=TouchStatus.SENDING, bridge_reps=[alex.pk]
    )
    url = SITE + reverse(name, kwargs={"token": Leg(touch.pk, alex.pk).token})
    params = {
        "CallSid": "CA" + "1" * 32,
        "Digits": "1",
        "CallStatus": "no-answer",
        "DialCallStatus": "completed",
        "DialCallDuration": "5",
    }
    if signature == "other-token":
        response = signed_post(client, url, params, token="not-the-auth-token")
    else:
        response = signed_post(client, url, params, signature=signature)
    assert response.status_code == 403
    # Signed over other parameters than those posted: refused too.
    good = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    tampered = client.post(
        urlsplit(url).path, {**params, "Digits": "9"}, HTTP_X_TWILIO_SIGNATURE=good
    )
    assert tampered.status_code == 403
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENDING and touch.attempt is None


def test_without_an_auth_token_the_webhooks_refuse_everything_in_production(settings, client, alex):
    settings.TWILIO_AUTH_TOKEN = ""
    touch = bridge_for(
        consented_lead(owner=alex), status=TouchStatus.SENDING, bridge_reps=[alex.pk]
    )
    path = reverse("voice_rep_answer", kwargs={"token": Leg(touch.pk, alex.pk).token})
    assert client.post(path, {"CallSid": "CA" + "1" * 32}).status_code == 403


def test_a_signed_post_with_a_bad_token_or_parameter_is_refused_by_name(
    at_monday_10am, client, alex
):
    touch = bridge_for(
        consented_lead(owner=alex), status=TouchStatus.SENDING, bridge_reps=[alex.pk]
    )
    token = Leg(touch.pk, alex.pk).token
    bad_token = SITE + reverse("voice_rep_answer", kwargs={"token": token[:-2] + "xx"})
    assert signed_post(client, bad_token, {"CallSid": "CA" + "1" * 32}).status_code == 404
    status_url = SITE + reverse("voice_rep_status", kwargs={"token": token})
    response = signed_post(
        client, status_url, {"CallSid": "CA\x00" + "1" * 30, "CallStatus": "busy"}
    )
    assert response.status_code == 400 and b"CallSid" in response.content
    response = signed_post(
        client, status_url, {"CallSid": "CA" + "1" * 32, "CallStatus": "x" * 5000}
    )
    assert response.status_code == 400 and b"CallStatus" in response.content
    ended_url = SITE + reverse("voice_lead_ended", kwargs={"token": token})
    response = signed_post(
        client,
        ended_url,
        {"CallSid": "CA" + "1" * 32, "DialCallStatus": "completed", "DialCallDuration": "-3"},
    )
    assert response.status_code == 400 and b"DialCallDuration" in response.content


def test_a_rep_who_does_not_answer_passes_the_lead_to_the_next_rep(
    at_monday_10am, django_capture_on_commit_callbacks, client, twilio, alex, blair, settings
):
    settings.VOICE_MAX_REPS = 2
    lead = consented_lead(owner=alex)
    touch = bridge_for(lead)
    tick(django_capture_on_commit_callbacks)
    first = Call(twilio, client)
    assert first.form["To"] == "+13055550111"  # the lead's own rep first

    with django_capture_on_commit_callbacks(execute=True):
        first.status("no-answer")
    touch.refresh_from_db()
    assert touch.bridge_reps == [alex.pk, blair.pk]
    assert touch.status == TouchStatus.SENDING
    second = Call(twilio, client)
    assert second.form["To"] == "+13055550122"
    assert "did not answer" in touch.status_note or "Ringing" in touch.status_note

    # The first rep's call reported again (or late): it is no longer the live call.
    with django_capture_on_commit_callbacks(execute=True):
        first.status("no-answer")
        answered = first.answer()
    assert "no longer needs a call" in said(answered)
    assert len(twilio.created) == 2

    # The second rep answers but presses nothing: Twilio posts an empty choice, then hangs up.
    gather = second.answer().find("Gather")
    with django_capture_on_commit_callbacks(execute=True):
        second.press("", gather.get("action"))
        second.status("completed", "9")
    touch.refresh_from_db()
    assert touch.status == TouchStatus.FAILED
    assert "No rep took the call (2 rung)" in touch.status_note
    assert len(twilio.created) == 2
    assert not ContactAttempt.objects.filter(lead=lead).exists()
    lead.refresh_from_db()
    assert lead.first_attempt_at is None  # still waiting for a rep's call, in the queue


def test_a_bridge_due_at_night_waits_for_the_leads_morning(
    django_capture_on_commit_callbacks, twilio, alex
):
    lead = consented_lead(owner=alex)
    touch = bridge_for(lead, due_at=MONDAY_10PM)
    with time_machine.travel(MONDAY_10PM, tick=False) as traveller:
        assert tick(django_capture_on_commit_callbacks) == 1
        touch.refresh_from_db()
        assert touch.status == TouchStatus.SCHEDULED
        assert touch.due_at == MONDAY_10AM.replace(day=24, hour=8)  # Florida: from 8 AM
        assert touch.deferrals == 1 and "Waiting until allowed" in touch.status_note
        assert twilio.created == []

        traveller.move_to(MONDAY_10AM.replace(day=24, hour=9, minute=30))
        assert tick(django_capture_on_commit_callbacks) == 1
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENDING
    assert len(twilio.created) == 1


def test_a_bridge_without_consent_is_blocked_and_never_rings(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, alex
):
    touch = bridge_for(consented_lead(owner=alex, consent=False))
    tick(django_capture_on_commit_callbacks)
    touch.refresh_from_db()
    assert touch.status == TouchStatus.BLOCKED
    assert "consent" in touch.status_note.lower()
    assert twilio.created == []


@pytest.mark.parametrize(
    ("notice", "state", "zip_code", "announced"),
    [
        ("all_party_states", "FL", "33130", True),
        ("all_party_states", "TX", "75201", False),
        ("always", "TX", "75201", True),
    ],
)
def test_a_recorded_call_is_announced_to_the_lead_as_configured(
    at_monday_10am,
    django_capture_on_commit_callbacks,
    client,
    twilio,
    alex,
    settings,
    notice,
    state,
    zip_code,
    announced,
):
    settings.VOICE_RECORD_CALLS = True
    settings.VOICE_RECORDING_NOTICE = notice
    RepProfile.objects.filter(user=alex).update(licensed_states=[])
    lead = consented_lead(
        owner=alex,
        state=state,
        zip_code=zip_code,
        time_zone="America/Chicago" if state == "TX" else "America/New_York",
        phone="+12145550100" if state == "TX" else "+13055550100",
    )
    bridge_for(lead)
    tick(django_capture_on_commit_callbacks)
    call = Call(twilio, client)
    dialled = connect(call)
    dial = dialled.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert "recorded" in said(dialled)  # the rep hears it too
    whisper = dial.find("Number").get("url")
    assert (whisper is not None) == announced
    if announced:
        notice_twiml = twiml(signed_post(client, whisper, call.params()))
        assert said(notice_twiml).startswith("Brightside Home Services")
        assert "recorded" in said(notice_twiml)
        assert notice_twiml.find(".//Pause") is None


def test_twilio_busy_then_the_retry_rings_the_rep_once(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, alex
):
    touch = bridge_for(consented_lead(owner=alex))
    with django_capture_on_commit_callbacks():  # the task is run by hand below
        bridge_touches_dispatch()
    twilio.fail_next(500)

    with pytest.raises(BridgeTemporaryError):
        bridge_call_place(touch_id=touch.pk)
    touch.refresh_from_db()
    assert touch.status == TouchStatus.QUEUED and touch.bridge_reps == []
    assert "will retry" in touch.status_note

    assert bridge_call_place(touch_id=touch.pk).status == TouchStatus.SENDING
    assert bridge_call_place(touch_id=touch.pk) is None  # a duplicated task: nothing
    assert len(twilio.created) == 1
    touch.refresh_from_db()
    assert touch.bridge_reps == [alex.pk] and touch.send_attempts == 2


def test_twilio_refusing_a_reps_number_passes_the_lead_on(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, alex, blair
):
    touch = bridge_for(consented_lead(owner=alex))
    twilio.fail_next(400)
    tick(django_capture_on_commit_callbacks)
    touch.refresh_from_db()
    assert touch.bridge_reps == [alex.pk, blair.pk]
    calls = [r for r in twilio.requests if r.path.endswith("/Calls.json")]
    assert [(r.form["To"][0], r.status) for r in calls] == [
        ("+13055550111", 400),
        ("+13055550122", 201),
    ]
    assert touch.status == TouchStatus.SENDING


@pytest.mark.parametrize(
    ("dial_status", "disposition", "touch_status"),
    [
        ("no-answer", Disposition.NO_ANSWER, TouchStatus.SENT),
        ("busy", Disposition.BUSY, TouchStatus.SENT),
        ("failed", "", TouchStatus.FAILED),
    ],
)
def test_a_lead_not_reached_is_logged_with_how_it_ended(
    at_monday_10am,
    django_capture_on_commit_callbacks,
    client,
    twilio,
    alex,
    dial_status,
    disposition,
    touch_status,
):
    lead = consented_lead(owner=alex)
    touch = bridge_for(lead)
    tick(django_capture_on_commit_callbacks)
    call = Call(twilio, client)
    action = connect(call).find("Dial").get("action")
    ended = call.params(DialCallStatus=dial_status, DialCallDuration="0")
    for _ in range(2):
        signed_post(client, action, ended)
    attempt = ContactAttempt.objects.get(lead=lead)
    assert attempt.disposition == disposition and attempt.duration_seconds == 0
    touch.refresh_from_db()
    assert touch.status == touch_status
    if disposition:
        assert Lead.objects.get(pk=lead.pk).status == "working"


def test_the_console_backend_logs_the_bridge_and_says_so(
    at_monday_10am, django_capture_on_commit_callbacks, settings, twilio, alex
):
    settings.VOICE_BACKEND = "crm.telephony.ConsoleVoiceBackend"
    touch = bridge_for(consented_lead(owner=alex))
    tick(django_capture_on_commit_callbacks)
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.attempt is None
    assert "console voice backend" in touch.status_note
    assert twilio.created == []


def test_no_rep_with_a_phone_working_fails_the_bridge_with_the_reason(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, rep
):
    touch = bridge_for(consented_lead(owner=rep))  # the fixture's rep has no phone
    tick(django_capture_on_commit_callbacks)
    touch.refresh_from_db()
    assert touch.status == TouchStatus.FAILED
    assert "No rep with a phone" in touch.status_note
    assert twilio.created == []


def test_deploy_check_warns_about_bridge_steps_without_a_caller_id(settings, db):
    settings.VOICE_CALLER_ID = ""
    Cadence.objects.update(is_active=False)  # the shipped "Speed to lead" has bridge steps
    assert voice_check() == []
    cadence = Cadence.objects.create(name="New solar leads")
    CadenceStep.objects.create(cadence=cadence, channel=StepChannel.BRIDGE)
    assert "leads.W101" in [problem.id for problem in voice_check()]
    settings.VOICE_CALLER_ID = "305-555-0000"
    assert "leads.E101" in [problem.id for problem in voice_check()]
    settings.SITE_URL = "http://crm.example.com"
    assert "leads.E103" in [problem.id for problem in voice_check()]


def test_run_clock_places_due_bridges(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, alex
):
    lead = consented_lead(owner=alex)
    # Processed already: the clock's sweep would otherwise enrol it in the default cadence.
    Lead.objects.filter(pk=lead.pk).update(processed_at=lead.received_at)
    bridge_for(lead)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_clock", "--once")
    assert len(twilio.created) == 1


# Real PostgreSQL locking, a real worker


@pytest.mark.django_db(transaction=True)
def test_two_clocks_and_duplicated_tasks_ring_for_each_bridge_once(monkeypatch, twilio, alex):
    require_service(
        "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL URL"
    )
    touches = [bridge_for(consented_lead(owner=alex, phone=f"+1305555{n:04d}")) for n in range(30)]
    handed_out: list[int] = []
    monkeypatch.setattr(
        "leads.tasks.place_bridge_call.apply_async",
        lambda args, *_, **__: handed_out.append(args[0]),
    )
    monkeypatch.setattr("leads.voice.bridge.DISPATCH_BATCH", 4)
    barrier = threading.Barrier(2)

    def clock():
        try:
            barrier.wait()
            while bridge_touches_dispatch(now=MONDAY_10AM + datetime.timedelta(seconds=1)):
                pass
        finally:
            connections.close_all()

    with time_machine.travel(MONDAY_10AM):
        threads = [threading.Thread(target=clock) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(handed_out) == sorted(touch.pk for touch in touches)

        # Three deliveries of the same task at the same instant: one call.
        first = touches[0].pk
        answers = at_once(lambda _: bridge_call_place(touch_id=first), range(3))
    assert sum(answer is not None for answer in answers) == 1
    assert len(twilio.created) == 1
    assert Touch.objects.get(pk=first).bridge_reps == [alex.pk]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_rings_the_rep_through_redis(twilio, alex):
    require_service(
        "Redis", bool(django_settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0"
    )
    queue = f"test-voice-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    touch = bridge_for(consented_lead(owner=alex))
    try:
        with (
            time_machine.travel(MONDAY_10AM),
            start_worker(celery_app, perform_ping_check=False, queues=[queue]),
        ):
            assert bridge_touches_dispatch() == 1
            deadline = time.monotonic() + 20
            ringing = Touch.objects.filter(pk=touch.pk).exclude(provider_message_id="")
            while time.monotonic() < deadline and not ringing.exists():
                time.sleep(0.1)
    finally:
        celery_app.conf.task_default_queue = "celery"

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENDING, touch.status_note
    assert [r.form["To"][0] for r in twilio.created] == ["+13055550111"]


def test_the_rep_records_the_bridged_calls_outcome_on_the_lead_page(
    at_monday_10am, django_capture_on_commit_callbacks, client, twilio, alex
):
    lead = consented_lead(owner=alex)
    bridge_for(lead)
    tick(django_capture_on_commit_callbacks)
    call = Call(twilio, client)
    action = connect(call).find("Dial").get("action")
    signed_post(client, action, call.params(DialCallStatus="completed", DialCallDuration="75"))

    client.force_login(alex)
    page = client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    attempt = ContactAttempt.objects.get(lead=lead)
    outcome_url = reverse("lead_call_outcome", args=[lead.pk, attempt.pk])
    assert outcome_url in page  # the open call waits for its outcome
    assert "Lead-to-call bridge: connected 1 min 15 s with Alex Rivera" in page
    client.post(outcome_url, {"disposition": "contacted", "notes": "Wants a quote."})

    attempt.refresh_from_db()
    assert attempt.disposition == Disposition.CONTACTED
    assert attempt.duration_seconds == 75  # Twilio's talk time, kept
    page = client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "connected 1 min 15 s with Alex Rivera · Contacted" in page
    lead.refresh_from_db()
    assert lead.first_contact_at is not None


def settle(django_capture_on_commit_callbacks) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return stale_bridges_settle()


def test_a_lost_status_callback_is_settled_by_asking_twilio(
    at_monday_10am, django_capture_on_commit_callbacks, client, twilio, alex, blair
):
    touch = bridge_for(consented_lead(owner=alex))
    tick(django_capture_on_commit_callbacks)
    first = Call(twilio, client)
    at_monday_10am.shift(datetime.timedelta(minutes=5))
    assert settle(django_capture_on_commit_callbacks) == 0  # too soon to ask

    at_monday_10am.shift(datetime.timedelta(minutes=11))
    twilio.calls[first.sid]["status"] = "ringing"
    assert settle(django_capture_on_commit_callbacks) == 0  # Twilio: not over yet
    assert len(twilio.created) == 1

    at_monday_10am.shift(datetime.timedelta(minutes=16))
    twilio.calls[first.sid]["status"] = "no-answer"
    assert settle(django_capture_on_commit_callbacks) == 1
    touch.refresh_from_db()
    assert touch.bridge_reps == [alex.pk, blair.pk]
    assert [r.form["To"][0] for r in twilio.created] == ["+13055550111", "+13055550122"]
    fetches = [r for r in twilio.requests if r.method == "GET"]
    assert [r.path.rsplit("/", 1)[-1] for r in fetches] == [f"{first.sid}.json"] * 2


def test_a_lost_dial_report_ends_the_touch_and_leaves_the_outcome_to_the_rep(
    at_monday_10am, django_capture_on_commit_callbacks, client, twilio, alex
):
    lead = consented_lead(owner=alex)
    touch = bridge_for(lead)
    tick(django_capture_on_commit_callbacks)
    call = Call(twilio, client)
    connect(call)
    twilio.calls[call.sid]["status"] = "in-progress"
    at_monday_10am.shift(datetime.timedelta(minutes=20))
    assert settle(django_capture_on_commit_callbacks) == 0  # a long talk: left alone

    twilio.calls[call.sid]["status"] = "completed"
    at_monday_10am.shift(datetime.timedelta(minutes=20))
    assert settle(django_capture_on_commit_callbacks) == 1
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert "never reported" in touch.status_note
    attempt = ContactAttempt.objects.get(lead=lead)
    assert attempt.disposition == "" and attempt.rep == alex
    assert len(twilio.created) == 1


def test_a_bridge_interrupted_before_twilio_answered_is_marked_unknown(
    at_monday_10am, django_capture_on_commit_callbacks, twilio, alex
):
    touch = bridge_for(
        consented_lead(owner=alex),
        status=TouchStatus.SENDING,
        bridge_reps=[alex.pk],
        queued_at=MONDAY_10AM - datetime.timedelta(minutes=30),
    )
    assert settle(django_capture_on_commit_callbacks) == 1
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNKNOWN
    assert twilio.created == []
