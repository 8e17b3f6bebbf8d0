"""Inbound texts through the webhook: opt-out, its one confirmation, help, opt-in, signatures."""

import base64
import datetime
import hashlib
import hmac
import json
import socket
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.utils import timezone
from twilio.request_validator import RequestValidator

from compliance.gate import decide
from compliance.inbound import sms_reply_receive
from compliance.keywords import Intent
from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    ContactDecision,
    DecisionStage,
    Purpose,
    RevocationMeans,
    Suppression,
    SuppressionOrigin,
)
from compliance.replies import help_text, opt_out_confirmation_text
from compliance.suppressions import suppression_add
from compliance.tasks import send_opt_out_confirmation
from crm import sms
from crm import telephony as crm_telephony
from leads.models import ContactAttempt
from leads.models.attempt import Direction
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory
from tests.fakes.twilio_server import FakeTwilio

# Tasks run here, not on a broker.
pytestmark = pytest.mark.usefixtures("eager_tasks")

BUSINESS = "Brightside Home Services"
PHONE = "+13055550100"
URL = "/webhooks/sms/inbound/"
TOKEN = "twilio-token"
MARKETING_WORDS = ("offer", "deal", "discount", "save", "free", "quote", "sale", "http", "$")


@pytest.fixture(autouse=True)
def business(settings, db):
    settings.SMS_BACKEND = "crm.sms.LocmemBackend"
    settings.SELLER_NAMES = [BUSINESS]
    settings.BUSINESS_NAME = BUSINESS
    settings.TWILIO_AUTH_TOKEN = TOKEN


def twilio_post(client, params: dict, **headers):
    """Post form params to the webhook as Twilio does: signed with the account's token."""
    signature = _signed(TOKEN, f"http://testserver{URL}", params)
    return client.post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def twilio_post_json(client, body: str):
    """Post a JSON body as Twilio signs one: through the body's hash in the URL."""
    url = f"{URL}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = _signed(TOKEN, f"http://testserver{url}", {})
    return client.post(
        url, body, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
    )


@pytest.fixture(autouse=True)
def outbox():
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def lead():
    lead = LeadFactory(phone=PHONE)
    ConsentRecordFactory(lead=lead)
    return lead


@pytest.fixture
def text_in(client, django_capture_on_commit_callbacks):
    """Post an inbound text to the webhook and run what it enqueues."""

    def post(body: str, phone: str = PHONE):
        with django_capture_on_commit_callbacks(execute=True):
            response = twilio_post(client, {"From": phone, "Body": body})
        assert response.status_code == 200, response.content
        return response

    return post


def outbound_texts(lead):
    return ContactAttempt.objects.filter(lead=lead, direction=Direction.OUTBOUND, channel="sms")


def test_stop_suppresses_the_number_revokes_consent_and_confirms_once(text_in, lead, outbox):
    response = text_in("STOP")

    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in response.content
    suppression = Suppression.objects.get(phone=PHONE)
    assert suppression.origin == SuppressionOrigin.SMS_KEYWORD
    assert suppression.channel_scope == "sms"
    assert suppression.lead == lead
    assert suppression.reason == 'Replied "STOP"'
    assert suppression.confirmation_sent_at is not None
    consent = ConsentRecord.objects.get(lead=lead)
    assert consent.revoked_at is not None
    assert consent.revocation_means == RevocationMeans.SMS_KEYWORD

    [message] = outbox
    assert message.to == PHONE
    assert message.body == (
        "Brightside Home Services: you're unsubscribed and will get no more texts from us. "
        "Reply START to resubscribe."
    )
    assert not any(word in message.body.lower() for word in MARKETING_WORDS)

    inbound = ContactAttempt.objects.get(lead=lead, direction=Direction.INBOUND)
    assert (inbound.channel, inbound.notes) == ("sms", "STOP")
    [sent] = outbound_texts(lead)
    assert sent.notes == message.body
    decision = ContactDecision.objects.get(lead=lead, attempt=sent)
    assert decision.allowed
    assert decision.purpose == Purpose.TRANSACTIONAL
    assert decision.stage == DecisionStage.SENDING


def test_marketing_texts_are_blocked_right_after_stop(text_in, lead):
    assert "opted_out" not in decide(lead, "sms", timezone.now()).codes

    text_in("stop texting me please")

    decision = decide(lead, "sms", timezone.now())
    assert not decision.allowed
    assert decision.codes[0] == "opted_out"


def test_a_second_stop_earns_no_second_confirmation(text_in, lead, outbox):
    text_in("STOP")
    text_in("STOP")

    assert len(outbox) == 1
    assert Suppression.objects.filter(phone=PHONE).count() == 2
    assert outbound_texts(lead).count() == 1


def test_the_confirmation_is_not_sent_more_than_5_minutes_after_the_opt_out(lead, outbox):
    late = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD,
        phone=PHONE,
        scope="sms",
        lead=lead,
        received_at=timezone.now() - datetime.timedelta(minutes=5, seconds=1),
    )

    send_opt_out_confirmation(late.pk)

    assert outbox == []
    late.refresh_from_db()
    assert late.confirmation_sent_at is None
    assert not outbound_texts(lead).exists()


def test_the_confirmation_is_sent_within_5_minutes_of_the_opt_out(lead, outbox):
    suppression = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD,
        phone=PHONE,
        scope="sms",
        lead=lead,
        received_at=timezone.now() - datetime.timedelta(minutes=4),
    )

    send_opt_out_confirmation(suppression.pk)

    assert [message.body for message in outbox] == [opt_out_confirmation_text()]


def test_two_claims_of_one_confirmation_send_one_text(lead, outbox):
    suppression = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD, phone=PHONE, scope="sms", lead=lead
    )

    send_opt_out_confirmation(suppression.pk)
    send_opt_out_confirmation(suppression.pk)

    assert len(outbox) == 1
    assert outbound_texts(lead).count() == 1


def test_a_failed_send_gives_the_confirmation_back_for_a_retry(lead, outbox, monkeypatch):
    suppression = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD, phone=PHONE, scope="sms", lead=lead
    )

    def refuse(self, *, to, body):
        raise sms.SmsError("Twilio refused the message (400)")

    monkeypatch.setattr(sms.LocmemBackend, "send", refuse)
    with pytest.raises(sms.SmsError):
        send_opt_out_confirmation(suppression.pk)
    suppression.refresh_from_db()
    assert suppression.confirmation_sent_at is None
    assert not outbound_texts(lead).exists()

    monkeypatch.undo()
    send_opt_out_confirmation(suppression.pk)
    assert len(outbox) == 1


def test_help_is_answered_even_after_an_opt_out(text_in, lead, outbox):
    text_in("STOP")
    outbox.clear()

    text_in("HELP")

    [message] = outbox
    assert message.to == PHONE
    assert message.body == (
        "Brightside Home Services: you get texts about your quote request. "
        "Reply STOP to opt out. Msg & data rates may apply."
    )
    help_attempt = outbound_texts(lead).get(notes=help_text())
    decision = ContactDecision.objects.get(attempt=help_attempt)
    assert decision.allowed and decision.purpose == Purpose.TRANSACTIONAL
    assert decide(lead, "sms", timezone.now()).codes[0] == "opted_out"


def test_help_from_an_unknown_number_is_answered(text_in, outbox):
    text_in("info", phone="+12125550199")

    assert [(m.to, m.body) for m in outbox] == [("+12125550199", help_text())]


def test_start_after_stop_records_consent_by_keyword(text_in, lead, outbox):
    text_in("STOP")
    outbox.clear()

    text_in("START")

    consent = ConsentRecord.objects.get(lead=lead, capture_method=CaptureMethod.SMS_KEYWORD)
    assert consent.channels == ["sms"]
    assert consent.seller_names == [BUSINESS]
    assert consent.disclosure_text == (
        'Replied "START" to Brightside Home Services asking to receive texts again.'
    )
    assert consent.captured_at is not None and consent.revoked_at is None
    assert outbox == []
    codes = decide(lead, "sms", timezone.now()).codes
    assert "opted_out" not in codes and "no_consent" not in codes
    # The opt-out still ends calls.
    assert decide(lead, "call", timezone.now()).codes[0] == "opted_out"


def test_stop_after_resubscribing_is_confirmed_again(text_in, lead, outbox):
    text_in("STOP")
    text_in("UNSTOP")
    text_in("STOP")

    assert [m.body for m in outbox] == [opt_out_confirmation_text()] * 2
    assert decide(lead, "sms", timezone.now()).codes[0] == "opted_out"


def test_yes_without_an_opt_out_is_no_consent(text_in, lead, outbox):
    text_in("Yes")

    assert not ConsentRecord.objects.filter(capture_method=CaptureMethod.SMS_KEYWORD).exists()
    assert outbox == []
    assert ContactAttempt.objects.get(lead=lead, direction=Direction.INBOUND).notes == "Yes"


def test_a_plain_reply_is_logged_and_nothing_is_sent(text_in, lead, outbox):
    text_in("Can you come by Tuesday afternoon?")

    inbound = ContactAttempt.objects.get(lead=lead)
    assert inbound.direction == Direction.INBOUND
    assert inbound.notes == "Can you come by Tuesday afternoon?"
    assert outbox == []
    assert not Suppression.objects.exists()
    assert not ContactDecision.objects.exists()


def test_the_newest_lead_with_the_number_gets_the_reply(text_in):
    older = LeadFactory(phone=PHONE, received_at=timezone.now() - datetime.timedelta(days=9))
    newer = LeadFactory(phone=PHONE, received_at=timezone.now() - datetime.timedelta(days=1))

    text_in("STOP")

    assert ContactAttempt.objects.get(direction=Direction.INBOUND).lead == newer
    assert Suppression.objects.get().lead == newer
    assert decide(older, "sms", timezone.now()).codes[0] == "opted_out"


@pytest.mark.parametrize("phone", ["+12125550199", "+442079460958"])
def test_stop_from_an_unknown_number_is_still_recorded(text_in, outbox, phone):
    text_in("STOP", phone=phone)

    suppression = Suppression.objects.get()
    assert str(suppression.phone) == phone
    assert suppression.lead is None
    assert [(m.to, m.body) for m in outbox] == [(phone, opt_out_confirmation_text())]
    assert not ContactAttempt.objects.exists()


def test_a_national_format_sender_is_stored_in_e164(text_in, lead):
    text_in("stop", phone="(305) 555-0100")

    assert Suppression.objects.get().lead == lead


def test_json_posts_are_accepted(client, lead, outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post_json(client, json.dumps({"from": PHONE, "body": "UNSUBSCRIBE"}))

    assert response.status_code == 200
    assert Suppression.objects.get().lead == lead
    assert len(outbox) == 1


def test_a_post_without_from_is_a_bad_request(client):
    response = twilio_post(client, {"Body": "STOP"})

    assert response.status_code == 400
    assert b"Missing From" in response.content
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("command", ["STOP", "START", "HELP"])
def test_with_debug_off_an_unsigned_post_is_refused_even_without_a_token(
    client, settings, lead, outbox, command
):
    settings.DEBUG = False
    settings.TWILIO_AUTH_TOKEN = ""

    response = client.post(URL, {"From": PHONE, "Body": command})

    assert response.status_code == 403
    assert b"TWILIO_AUTH_TOKEN" in response.content
    assert not Suppression.objects.exists() and not outbox
    assert not ContactAttempt.objects.exists()


def test_in_development_without_a_token_unsigned_posts_are_taken(
    client, settings, lead, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    settings.TWILIO_AUTH_TOKEN = ""

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {"From": PHONE, "Body": "STOP"})

    assert response.status_code == 200
    assert Suppression.objects.exists()


@pytest.mark.parametrize("sender", ["+1305\x00", "+15555550100", "+1305", "not a number"])
def test_a_sender_that_is_no_phone_number_is_refused(client, outbox, sender):
    response = twilio_post(client, {"From": sender, "Body": "STOP"})

    assert response.status_code == 400
    assert not Suppression.objects.exists() and not outbox


@pytest.mark.parametrize("body", ["STOP\x00", "STOP\ud800"], ids=["nul", "lone-surrogate"])
def test_a_body_that_cannot_be_stored_is_refused(client, lead, body):
    as_json = json.dumps({"from": PHONE, "body": body})

    response = twilio_post_json(client, as_json)

    assert response.status_code == 400
    assert b"Body" in response.content
    assert not ContactAttempt.objects.exists()


def test_deeply_nested_json_is_a_bad_request(client):
    response = twilio_post_json(client, "[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400


def test_a_queue_that_is_away_loses_the_confirmation_not_the_opt_out(
    client, lead, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_away(*args, **kwargs):
        raise ConnectionError("the broker is away")

    monkeypatch.setattr(send_opt_out_confirmation, "delay", broker_away)

    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(client, {"From": PHONE, "Body": "STOP"})

    assert response.status_code == 200
    assert Suppression.objects.get().lead == lead


def test_only_post_is_allowed(client):
    assert client.get(URL).status_code == 405


def _signed(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's scheme, written out: URL, then each param's name and value by sorted name."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), "sha1").digest()).decode()


def test_the_signature_matches_twilios_documented_example():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert RequestValidator("12345").compute_signature(url, params) == expected
    assert _signed("12345", url, params) == expected


def test_a_bad_signature_is_refused_when_twilio_is_configured(client, settings, lead):
    params = {"From": PHONE, "Body": "STOP", "MessageSid": "SM123"}

    forged = _signed("another-token", f"http://testserver{URL}", params)
    response = client.post(URL, params, HTTP_X_TWILIO_SIGNATURE=forged)
    unsigned = client.post(URL, params)

    assert (response.status_code, unsigned.status_code) == (403, 403)
    assert not Suppression.objects.exists()
    assert not ContactAttempt.objects.exists()


def test_a_good_signature_is_accepted(client, settings, lead, django_capture_on_commit_callbacks):
    params = {"From": PHONE, "Body": "STOP", "MessageSid": "SM123", "To": "+13055550999"}

    signature = _signed("twilio-token", f"http://testserver{URL}", params)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 200
    assert Suppression.objects.get().lead == lead


def test_a_signed_json_post_must_match_its_body_hash(client, settings, lead):
    body = json.dumps({"from": PHONE, "body": "STOP"})
    body_hash = hashlib.sha256(body.encode()).hexdigest()
    url = f"{URL}?bodySHA256={body_hash}"
    signature = _signed("twilio-token", f"http://testserver{url}", {})

    tampered = client.post(
        url,
        json.dumps({"from": PHONE, "body": "hi"}),
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    genuine = client.post(
        url, body, content_type="application/json", HTTP_X_TWILIO_SIGNATURE=signature
    )

    assert (tampered.status_code, genuine.status_code) == (403, 200)
    assert Suppression.objects.count() == 1


def test_sms_reply_receive_returns_the_intent(lead):
    assert sms_reply_receive(from_phone=PHONE, body="Quit") == Intent.OPT_OUT
    assert sms_reply_receive(from_phone=PHONE, body="help") == Intent.HELP
    assert sms_reply_receive(from_phone=PHONE, body="ok see you") == Intent.OTHER


# The SMS backends.


def test_the_console_backend_logs_the_message(settings, caplog):
    settings.SMS_BACKEND = "crm.sms.ConsoleBackend"

    with caplog.at_level("INFO", logger="crm.sms"):
        message_id = sms.send_sms(to=PHONE, body="Hello")

    assert message_id.startswith("console-")
    assert "Hello" in caplog.text and PHONE in caplog.text


def test_the_twilio_backend_names_missing_settings(settings):
    settings.SMS_BACKEND = "crm.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_FROM_NUMBER = ""

    with pytest.raises(ImproperlyConfigured, match="TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER"):
        sms.send_sms(to=PHONE, body="Hello")


@pytest.fixture
def twilio(settings):
    settings.SMS_BACKEND = "crm.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_FROM_NUMBER = "+13055550999"
    with FakeTwilio("AC123", "secret") as server:
        settings.TWILIO_API_BASE_URL = server.url
        yield server


def test_the_twilio_backend_sends_through_the_messages_api(twilio):
    message_id = sms.send_sms(to=PHONE, body="Hello", status_callback="https://crm.example/s/1/")

    [message] = twilio.messages
    assert message_id == message.sid and message.sid.startswith("SM")
    assert (message.to, message.from_, message.body) == (PHONE, "+13055550999", "Hello")
    assert message.status_callback == "https://crm.example/s/1/"
    assert twilio.requests == [("POST", "/2010-04-01/Accounts/AC123/Messages.json")]


def test_the_twilio_backend_finds_a_text_it_sent_for_reconciliation(twilio):
    before = timezone.now() - datetime.timedelta(seconds=2)
    message_id = sms.send_sms(to=PHONE, body="Hello")
    sms.send_sms(to="+13055550111", body="Hello")

    assert sms.sent_sms_find(to=PHONE, body="Hello", since=before) == message_id
    assert sms.sent_sms_find(to=PHONE, body="Other", since=before) is None
    later = timezone.now() + datetime.timedelta(minutes=1)
    assert sms.sent_sms_find(to=PHONE, body="Hello", since=later) is None


@pytest.mark.parametrize(
    ("status", "code", "error", "invalid"),
    [
        (400, 21211, sms.SmsError, True),
        (400, 21408, sms.SmsError, False),
        (429, 20429, sms.SmsTemporaryError, False),
        (500, None, sms.SmsTemporaryError, False),
    ],
)
def test_the_twilio_backend_tells_refusals_from_temporary_failures(
    twilio, status, code, error, invalid
):
    twilio.fail_next(status, code=code)

    with pytest.raises(error) as raised:
        sms.send_sms(to=PHONE, body="Hello")

    assert raised.type is error
    assert str(status) in str(raised.value)
    assert raised.value.number_invalid is invalid
    assert twilio.messages == []


def test_an_unreachable_twilio_is_a_temporary_failure(twilio, settings):
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{_closed_port()}"

    with pytest.raises(sms.SmsTemporaryError, match="Could not reach Twilio"):
        sms.send_sms(to=PHONE, body="Hello")


def test_a_twilio_that_takes_the_text_and_never_answers_is_an_unknown_outcome(twilio, monkeypatch):
    monkeypatch.setattr("crm.telephony.TWILIO_TIMEOUT_SECONDS", 0.5)
    crm_telephony._client_for.cache_clear()
    twilio.hang.set()

    with pytest.raises(sms.SmsOutcomeUnknown):
        sms.send_sms(to=PHONE, body="Hello")

    crm_telephony._client_for.cache_clear()
    assert len(twilio.messages) == 1  # it went: never to be sent again blindly


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Real PostgreSQL: simultaneous replies and claims.


@pytest.fixture
def postgres():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")


def _together(*calls) -> None:
    """Run each call in its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_simultaneous_stops_earn_one_confirmation(postgres, outbox, attempt):
    LeadFactory(phone=PHONE)

    _together(*[lambda: sms_reply_receive(from_phone=PHONE, body="STOP")] * 2)

    assert Suppression.objects.filter(phone=PHONE).count() == 2
    assert len(outbox) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_simultaneous_claims_send_one_confirmation(postgres, outbox, attempt):
    suppression = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD,
        phone=PHONE,
        scope="sms",
        lead=LeadFactory(phone=PHONE),
    )

    _together(*[lambda: send_opt_out_confirmation(suppression.pk)] * 4)

    assert len(outbox) == 1
