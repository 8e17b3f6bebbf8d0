"""The sending path: send tasks carrying several touches, each sent once, the real channels
(Twilio's API through a local Twilio-shaped server, a real SMTP server), delivery reports,
interrupted sends and their reconciliation, the shared rate limit."""

import datetime
import math
import threading
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from compliance.models import DncList, DncListKind, DncListStatus, SuppressionOrigin
from compliance.suppressions import suppression_add
from crm import sms
from crm.tokenbucket import tokens_take
from leads.cadences.channels import status_callback_url
from leads.cadences.outbound import (
    due_touches_dispatch,
    interrupted_sends_reconcile,
    touch_resend,
    touches_send,
)
from leads.cadences.touches import touch_schedule
from leads.models import (
    ContactAttempt,
    Lead,
    LeadReturn,
    LeadSource,
    ReturnOrigin,
    Touch,
    TouchStatus,
)
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_server import FakeTwilio

pytestmark = pytest.mark.usefixtures("eager_tasks")

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)
TOKEN = "twilio-secret"
FROM = "+13055550999"


@pytest.fixture(autouse=True)
def business(settings, db):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.SITE_URL = "https://crm.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "crm.example.com"]
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    settings.TWILIO_AUTH_TOKEN = TOKEN
    sms.outbox.clear()
    DncList.objects.create(
        kind=DncListKind.NATIONAL,
        list_date=MONDAY_10AM.date() - datetime.timedelta(days=2),
        status=DncListStatus.READY,
    )


@pytest.fixture
def at_monday_10am():
    with time_machine.travel(MONDAY_10AM, tick=True) as traveller:
        yield traveller


@pytest.fixture
def twilio(settings):
    settings.SMS_BACKEND = "crm.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC0123456789"
    settings.TWILIO_FROM_NUMBER = FROM
    with FakeTwilio("AC0123456789", TOKEN) as server:
        settings.TWILIO_API_BASE_URL = server.url
        yield server


@pytest.fixture
def smtp(settings):
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield server


def consented_lead(**fields):
    fields.setdefault("received_at", MONDAY_10AM - datetime.timedelta(days=1))
    lead = LeadFactory(phone=fields.pop("phone", "+13055550100"), **fields)
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def queued(lead, channel="sms", n=1, **fields) -> list[Touch]:
    """Touches already handed out by the clock, whose send tasks have not run."""
    return Touch.objects.bulk_create(
        Touch(
            lead=lead,
            channel=channel,
            body=fields.get("body", f"Message {i}"),
            subject=fields.get("subject", "Your quote" if channel == "email" else ""),
            status=TouchStatus.QUEUED,
            queued_at=timezone.now(),
            due_at=timezone.now(),
        )
        for i in range(n)
    )


def signed_status_post(client, touch, **params):
    url = status_callback_url(touch.pk)
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return client.post(
        url.removeprefix("https://crm.example.com"),
        params,
        secure=True,
        HTTP_HOST="crm.example.com",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


# The dispatcher and the send task


def test_the_clock_hands_touches_to_send_tasks_several_at_a_time_per_channel(
    at_monday_10am, django_capture_on_commit_callbacks, monkeypatch
):
    lead = consented_lead(email="dana@example.com")
    Touch.objects.bulk_create(
        [Touch(lead=lead, channel="sms", body=f"#{n}", due_at=timezone.now()) for n in range(60)]
        + [
            Touch(lead=lead, channel="email", subject="Hi", body=f"#{n}", due_at=timezone.now())
            for n in range(3)
        ]
    )
    tasks: list[list[int]] = []
    monkeypatch.setattr(
        "leads.tasks.send_touches.apply_async", lambda args, *_, **__: tasks.append(args[0])
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert due_touches_dispatch() == 63

    channels = [{Touch.objects.get(pk=pk).channel for pk in task} for task in tasks]
    assert sorted(len(task) for task in tasks) == [3, 10, 50]
    assert all(len(kinds) == 1 for kinds in channels)
    assert set(Touch.objects.values_list("status", flat=True)) == {TouchStatus.QUEUED}


def test_a_duplicated_or_retried_task_never_sends_a_touch_twice(at_monday_10am):
    lead = consented_lead()
    touches = queued(lead, n=3)
    ids = [touch.pk for touch in touches]

    first = touches_send(touch_ids=ids)
    again = touches_send(touch_ids=ids)

    assert sorted(first.sent) == sorted(ids) and again.sent == again.handled == []
    assert len(sms.outbox) == 3
    assert ContactAttempt.objects.filter(lead=lead).count() == 3
    assert {t.send_attempts for t in Touch.objects.all()} == {1}


def test_a_busy_provider_puts_the_touch_back_for_a_retry_that_sends_it_once(at_monday_10am, twilio):
    lead = consented_lead()
    [touch] = queued(lead)
    twilio.fail_next(503)

    report = touches_send(touch_ids=[touch.pk])

    touch.refresh_from_db()
    assert report.retry == [touch.pk] and report.sent == []
    assert touch.status == TouchStatus.QUEUED and "will retry" in touch.status_note
    assert twilio.messages == []

    touches_send(touch_ids=report.retry)

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.send_attempts == 2
    assert touch.provider_message_id == twilio.messages[0].sid
    assert len(twilio.messages) == 1


def test_an_opt_out_between_dispatch_and_send_blocks_it_at_the_instant_of_sending(
    at_monday_10am, twilio
):
    lead = consented_lead()
    [touch] = queued(lead)
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone), scope="sms")

    touches_send(touch_ids=[touch.pk])

    touch.refresh_from_db()
    assert touch.status == TouchStatus.BLOCKED
    assert twilio.messages == []


# Texts through Twilio's API, and their delivery reports


def test_a_text_goes_through_twilio_with_a_signed_status_callback_and_is_delivered(
    at_monday_10am, twilio, client, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    with django_capture_on_commit_callbacks(execute=True):
        touch = touch_schedule(lead=lead, channel="sms", body="Your quote is ready.")

    [message] = twilio.messages
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.provider_message_id == message.sid
    assert message.body == "Your quote is ready. Reply STOP to opt out."
    assert message.status_callback == status_callback_url(touch.pk)

    answers = [
        signed_status_post(client, touch, MessageSid=message.sid, MessageStatus=status)
        for status in ("sent", "delivered", "delivered", "sent")  # repeated, out of order
    ]

    assert [a.status_code for a in answers] == [200] * 4
    touch.refresh_from_db()
    assert touch.status == TouchStatus.DELIVERED and touch.delivered_at is not None


def test_a_carriers_unknown_number_report_marks_the_number_invalid_and_stops_texts(
    at_monday_10am, twilio, client, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    later = Touch.objects.create(
        lead=lead, channel="sms", body="Later", due_at=timezone.now() + datetime.timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        touch = touch_schedule(lead=lead, channel="sms", body="Hello")
    sid = twilio.messages[0].sid

    for _ in range(2):  # a repeated report changes nothing
        answer = signed_status_post(
            client, touch, MessageSid=sid, MessageStatus="undelivered", ErrorCode="30005"
        )
        assert answer.status_code == 200

    touch.refresh_from_db()
    lead.refresh_from_db()
    later.refresh_from_db()
    assert touch.status == TouchStatus.FAILED and "30005" in touch.status_note
    assert lead.phone_invalid_at is not None
    assert later.status == TouchStatus.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        again = touch_schedule(lead=lead, channel="sms", body="Anyone there?")
    again.refresh_from_db()
    assert again.status == TouchStatus.BLOCKED and "cannot take texts" in again.status_note
    assert len(twilio.messages) == 1


def test_twilio_refusing_an_invalid_number_marks_it_invalid(at_monday_10am, twilio):
    lead = consented_lead()
    [touch] = queued(lead)
    twilio.fail_next(400, code=21211, message="The 'To' number is not a valid phone number.")

    touches_send(touch_ids=[touch.pk])

    touch.refresh_from_db()
    assert touch.status == TouchStatus.FAILED and "21211" in touch.status_note
    assert Lead.objects.get(pk=lead.pk).phone_invalid_at is not None


@pytest.mark.parametrize("auto_return", [True, False])
def test_a_number_proved_invalid_returns_the_lead_when_its_source_says_so(
    at_monday_10am, twilio, auto_return
):
    lead = consented_lead()
    LeadSource.objects.filter(pk=lead.source_id).update(
        auto_return_invalid=auto_return, allowed_return_reasons=["bad_number"]
    )
    [touch] = queued(lead)
    twilio.fail_next(400, code=21211, message="The 'To' number is not a valid phone number.")

    touches_send(touch_ids=[touch.pk])

    returns = list(LeadReturn.objects.filter(lead=lead))
    if auto_return:
        [lead_return] = returns
        assert (lead_return.reason, lead_return.origin) == ("bad_number", ReturnOrigin.AUTO)
        assert lead_return.credit == Lead.objects.get(pk=lead.pk).cost
    else:
        assert returns == []


def test_a_delivery_report_must_be_signed_and_name_its_text(at_monday_10am, client, settings):
    lead = consented_lead()
    [touch] = queued(lead)
    Touch.objects.filter(pk=touch.pk).update(status=TouchStatus.SENT, provider_message_id="SM1")
    path = status_callback_url(touch.pk).removeprefix("https://crm.example.com")
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}

    unsigned = client.post(path, params, secure=True, HTTP_HOST="crm.example.com")
    forged = client.post(
        path,
        params,
        secure=True,
        HTTP_HOST="crm.example.com",
        HTTP_X_TWILIO_SIGNATURE=RequestValidator("other").compute_signature(
            f"https://crm.example.com{path}", params
        ),
    )
    forged_path = reverse("sms_status", args=[f"{touch.pk}:forged"])
    wrong_touch = client.post(
        forged_path,
        params,
        secure=True,
        HTTP_HOST="crm.example.com",
        HTTP_X_TWILIO_SIGNATURE=RequestValidator(TOKEN).compute_signature(
            f"https://crm.example.com{forged_path}", params
        ),
    )
    other_sid = signed_status_post(client, touch, MessageSid="SM2", MessageStatus="delivered")
    missing = signed_status_post(client, touch, MessageSid="SM1")
    nul = signed_status_post(client, touch, MessageSid="SM\x001", MessageStatus="delivered")
    bad_code = signed_status_post(
        client, touch, MessageSid="SM1", MessageStatus="failed", ErrorCode="30005; DROP"
    )

    assert (unsigned.status_code, forged.status_code) == (403, 403)
    settings.TWILIO_AUTH_TOKEN = ""
    assert client.post(path, params, secure=True).status_code == 403  # DEBUG off: no token
    settings.TWILIO_AUTH_TOKEN = TOKEN
    assert wrong_touch.status_code == 404  # signed by Twilio, but not a URL we gave it
    assert other_sid.status_code == 404
    assert missing.status_code == 400 and b"MessageStatus" in missing.content
    assert nul.status_code == 400 and b"MessageSid" in nul.content
    assert bad_code.status_code == 400 and b"ErrorCode" in bad_code.content
    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.SENT


# Sends interrupted between claim and the provider's answer


def _interrupted(touch: Touch, *, minutes_ago: int = 10) -> None:
    """As a worker that died mid-send leaves it: claimed, sending, never answered."""
    Touch.objects.filter(pk=touch.pk).update(
        status=TouchStatus.SENDING,
        sending_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        send_attempts=1,
    )


def test_an_interrupted_text_the_provider_took_is_recorded_sent_not_resent(
    at_monday_10am, twilio, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    [touch] = queued(lead, body="Hello there")
    _interrupted(touch, minutes_ago=0)
    # The worker's request reached Twilio; the worker died before reading the answer.
    sms.send_sms(to=str(lead.phone), body="Hello there Reply STOP to opt out.")
    at_monday_10am.shift(datetime.timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        assert interrupted_sends_reconcile() == 1

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert touch.provider_message_id == twilio.messages[0].sid
    assert touch.attempt is not None
    assert len(twilio.messages) == 1


def test_an_interrupted_text_the_provider_never_took_is_queued_again_and_sent_once(
    at_monday_10am, twilio, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    [touch] = queued(lead)
    _interrupted(touch, minutes_ago=5)

    with django_capture_on_commit_callbacks(execute=True):
        assert interrupted_sends_reconcile() == 1
        assert interrupted_sends_reconcile() == 0

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.send_attempts == 2
    assert len(twilio.messages) == 1


def test_a_send_still_within_its_time_is_not_reconciled(at_monday_10am, twilio):
    lead = consented_lead()
    [touch] = queued(lead)
    _interrupted(touch, minutes_ago=1)

    assert interrupted_sends_reconcile() == 0
    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.SENDING


def test_an_interrupted_email_is_unknown_until_a_manager_resends_it_from_the_admin(
    at_monday_10am, smtp, manager_client, manager, django_capture_on_commit_callbacks
):
    lead = consented_lead(email="dana@example.com")
    [touch] = queued(lead, channel="email", body="Here it is.")
    _interrupted(touch)

    assert interrupted_sends_reconcile() == 1
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNKNOWN and smtp.messages == []
    listing = manager_client.get(
        reverse("admin:leads_touch_changelist"), {"status__exact": "unknown"}
    )
    assert "Interrupted: unknown whether sent" in listing.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        page = manager_client.post(
            reverse("admin:leads_touch_changelist"),
            {"action": "resend_interrupted", "_selected_action": [touch.pk]},
            follow=True,
        )

    assert "Queued 1 touch(es) to send again." in page.content.decode()
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert len(smtp.to("dana@example.com")) == 1
    assert touch_resend(touch=touch, by=manager) is False  # sent: nothing to resend


def test_a_rep_cannot_resend_from_the_admin(at_monday_10am, rep, client):
    rep.is_staff = True
    rep.save()
    client.force_login(rep)
    lead = consented_lead(email="dana@example.com")
    [touch] = queued(lead, channel="email")
    Touch.objects.filter(pk=touch.pk).update(status=TouchStatus.UNKNOWN)

    client.post(
        reverse("admin:leads_touch_changelist"),
        {"action": "resend_interrupted", "_selected_action": [touch.pk]},
    )

    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.UNKNOWN


# Email through a real SMTP server


def test_a_marketing_email_reaches_the_smtp_server_with_address_and_unsubscribe(
    at_monday_10am, smtp, django_capture_on_commit_callbacks
):
    lead = consented_lead(email="dana@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        touch = touch_schedule(lead=lead, channel="email", subject="Your quote", body="Here.")

    [message] = smtp.to("dana@example.com")
    text = message.get_content()
    assert message["Subject"] == "Your quote"
    assert "100 Main St, Miami, FL 33130" in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert link.startswith("https://crm.example.com/u/") and link in text
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT and touch.provider_message_id == message["Message-ID"]


def test_several_emails_go_over_one_smtp_connection(at_monday_10am, smtp):
    leads = [
        consented_lead(email=f"lead{n}@example.com", phone=f"+1305555020{n}") for n in range(3)
    ]
    touches = [t for lead in leads for t in queued(lead, channel="email")]

    report = touches_send(touch_ids=[t.pk for t in touches])

    assert sorted(report.sent) == sorted(t.pk for t in touches)
    assert len(smtp.messages) == 3


def test_an_address_the_mail_server_refuses_for_good_is_marked_invalid(at_monday_10am, smtp):
    lead = consented_lead(email="gone@example.com")
    other = consented_lead(email="fine@example.com", phone="+13055550111")
    smtp.refused.add("gone@example.com")
    touches = queued(lead, channel="email") + queued(other, channel="email")

    touches_send(touch_ids=[t.pk for t in touches])

    refused, fine = (Touch.objects.get(pk=t.pk) for t in touches)
    assert refused.status == TouchStatus.FAILED and "550" in refused.status_note
    assert Lead.objects.get(pk=lead.pk).email_invalid_at is not None
    assert fine.status == TouchStatus.SENT  # the connection goes on after a refusal
    assert len(smtp.to("fine@example.com")) == 1


def test_an_unreachable_mail_server_is_retried_later(at_monday_10am, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SmtpServer() as closed:
        port = closed.port
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    lead = consented_lead(email="dana@example.com")
    [touch] = queued(lead, channel="email")

    report = touches_send(touch_ids=[touch.pk])

    assert report.retry == [touch.pk]
    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.QUEUED


# The rate limit shared by every worker


@pytest.mark.redis
def test_the_token_bucket_in_redis_holds_every_worker_to_the_rate(settings):
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    bucket = f"test-{timezone.now().timestamp()}"

    first = tokens_take(bucket=bucket, rate_per_second=5, wanted=20)
    second = tokens_take(bucket=bucket, rate_per_second=5, wanted=1)

    assert first[0] == 5 and 0 < first[1] <= 0.25
    assert second[0] == 0 and second[1] > 0


@pytest.mark.redis
def test_workers_taking_tokens_at_once_share_one_rate(settings):
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    bucket = f"test-shared-{timezone.now().timestamp()}"
    granted: list[int] = []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        for _ in range(15):
            granted.append(tokens_take(bucket=bucket, rate_per_second=20, wanted=1)[0])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refilled = math.ceil((time.monotonic() - began) * 20)

    # One bucket for all four: its burst of 20 plus what refilled while they took, never
    # 20 each (which is what a per-worker limit would grant).
    assert 20 <= sum(granted) <= 20 + refilled


def test_without_redis_there_is_no_limit(settings):
    settings.REDIS_URL = ""
    assert tokens_take(bucket="sms", rate_per_second=1, wanted=500) == (500, 0.0)


def test_a_text_left_sending_before_claim_times_were_kept_is_reconciled_too(
    at_monday_10am, twilio, django_capture_on_commit_callbacks
):
    lead = consented_lead()
    [touch] = queued(lead)
    Touch.objects.filter(pk=touch.pk).update(
        status=TouchStatus.SENDING,
        sending_at=None,
        queued_at=timezone.now() - datetime.timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert interrupted_sends_reconcile() == 1

    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.SENT
    assert len(twilio.messages) == 1
