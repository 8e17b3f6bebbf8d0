"""Feedback webhooks against a real local receiver: signed, retried, in order, per source."""

import datetime
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from leads.feedback import webhooks
from leads.feedback.outbox import feedback_event_record
from leads.feedback.returns import return_request
from leads.feedback.webhooks import (
    feedback_deliveries_dispatch,
    feedback_event_resend,
    feedback_signature,
)
from leads.lifecycle import conversion_record
from leads.models import (
    Conversion,
    DeliveryStatus,
    FeedbackDelivery,
    FeedbackEvent,
    FeedbackEventType,
)
from tests.factories import LeadFactory, LeadSourceFactory
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

GUIDE = Path(__file__).resolve().parents[2] / "leads" / "api" / "GUIDE.md"
START = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)


def guide_verifier():
    """The signature check a vendor would write: the Python sample in the vendors' guide."""
    sample = re.search(r"### Verify the signature.*?```python\n(.*?)```", GUIDE.read_text(), re.S)
    namespace = {}
    exec(compile(sample.group(1), "GUIDE.md", "exec"), namespace)
    return namespace["leadline_signature_is_valid"]


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


@pytest.fixture
def hooked(receiver):
    return LeadSourceFactory(feedback_webhook_url=receiver.url, shares_revenue=True)


@pytest.fixture
def tick(django_capture_on_commit_callbacks, eager_tasks):
    """One tick of the clock: claim what is due and post it (Celery runs in-process)."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return feedback_deliveries_dispatch()

    return run


def sale(lead, revenue="1200.00"):
    return conversion_record(lead=lead, kind="sale", origin="api", revenue=Decimal(revenue))


def event(lead, type=FeedbackEventType.CONTACTED):
    return feedback_event_record(lead=lead, type=type, occurred_at=timezone.now())


def test_an_event_is_posted_signed_and_a_receiver_written_from_the_guide_accepts_it(
    clock, receiver, hooked, tick
):
    lead = LeadFactory(source=hooked, received_at=START - datetime.timedelta(hours=2))
    conversion = sale(lead)

    assert tick() == 1

    (request,) = receiver.requests
    stored = FeedbackEvent.objects.get()
    assert stored.status == DeliveryStatus.DELIVERED and stored.last_status_code == 200
    body = json.loads(request.body)
    assert body == {
        "id": stored.pk,
        "type": "lead.sold",
        "occurred_at": conversion.occurred_at.isoformat().replace("+00:00", "Z"),
        "lead": {
            "id": lead.pk,
            "source_lead_id": lead.source_lead_id,
            "received_at": "2026-11-24T13:00:00Z",
        },
        "revenue": "1200.00",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Leadline-Event-Id"] == str(stored.pk)
    verify = guide_verifier()
    signature = request.headers["Leadline-Signature"]
    assert verify(hooked.webhook_signing_secret, request.body, signature)
    # What the check is there for: a forged body, another key, a replay an hour later.
    assert not verify(hooked.webhook_signing_secret, request.body + b" ", signature)
    assert not verify("another-secret", request.body, signature)
    later = datetime.datetime.now(datetime.UTC).timestamp() + 3600
    assert not verify(hooked.webhook_signing_secret, request.body, signature, now=later)
    assert not verify(hooked.webhook_signing_secret, request.body, "t=1,v2=abc")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = feedback_signature(secret="whsec", timestamp=1700000000, body=b'{"id":1}')
    # Computed independently: printf '1700000000.{"id":1}' | openssl dgst -sha256 -hmac whsec
    import hashlib
    import hmac

    digest = hmac.new(b"whsec", b'1700000000.{"id":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"


def test_revenue_is_sent_only_to_a_source_that_may_see_it(clock, receiver, tick):
    source = LeadSourceFactory(feedback_webhook_url=receiver.url, shares_revenue=False)
    sale(LeadFactory(source=source))
    tick()
    assert "revenue" not in json.loads(receiver.requests[0].body)


def test_a_500_is_retried_with_backoff_until_delivered(clock, receiver, hooked, tick):
    receiver.fail(2, status=500)
    event(LeadFactory(source=hooked))

    tick()
    stored = FeedbackEvent.objects.get()
    assert stored.status == DeliveryStatus.PENDING and stored.attempts == 1
    assert stored.last_status_code == 500
    first_retry = stored.next_attempt_at - timezone.now()
    assert datetime.timedelta(seconds=25) < first_retry <= datetime.timedelta(seconds=30)
    assert tick() == 0  # not due yet

    clock.shift(datetime.timedelta(seconds=31))
    tick()
    stored.refresh_from_db()
    second_retry = stored.next_attempt_at - timezone.now()
    assert datetime.timedelta(seconds=55) < second_retry <= datetime.timedelta(seconds=60)

    clock.shift(datetime.timedelta(seconds=61))
    tick()
    stored.refresh_from_db()
    assert stored.status == DeliveryStatus.DELIVERED and stored.attempts == 3
    codes = list(stored.deliveries.order_by("attempted_at").values_list("status_code", flat=True))
    assert codes == [500, 500, 200]
    assert len({json.loads(r.body)["id"] for r in receiver.requests}) == 1  # one id throughout


def test_a_timeout_is_recorded_and_retried(clock, receiver, hooked, tick, settings):
    settings.FEEDBACK_TIMEOUT_SECONDS = 0.5
    receiver.hang(1, seconds=3)
    event(LeadFactory(source=hooked))

    tick()
    delivery = FeedbackDelivery.objects.get()
    assert delivery.status_code is None and "No answer within 0.5 s" in delivery.error
    assert FeedbackEvent.objects.get().status == DeliveryStatus.PENDING

    clock.shift(datetime.timedelta(seconds=31))
    tick()
    assert FeedbackEvent.objects.get().status == DeliveryStatus.DELIVERED


def test_a_refused_connection_is_retried(clock, hooked, tick):
    hooked.feedback_webhook_url = "http://127.0.0.1:9/nothing-listens-here"
    hooked.save()
    event(LeadFactory(source=hooked))
    tick()
    stored = FeedbackEvent.objects.get()
    assert stored.status == DeliveryStatus.PENDING and stored.deliveries.get().error


def test_an_event_is_retried_for_a_day_then_given_up_and_a_manager_resends_it(
    clock, receiver, hooked, tick, manager
):
    receiver.fail(1000, status=503)
    event(LeadFactory(source=hooked))
    first = timezone.now()

    while (stored := FeedbackEvent.objects.get()).status == DeliveryStatus.PENDING:
        clock.move_to(stored.next_attempt_at + datetime.timedelta(seconds=1))
        tick()

    assert stored.status == DeliveryStatus.FAILED
    last = stored.deliveries.order_by("-attempted_at").first().attempted_at
    assert last - first >= datetime.timedelta(hours=24)
    assert stored.attempts == stored.deliveries.count() < 40

    receiver._plan.clear()
    feedback_event_resend(event=stored, by=manager)
    tick()
    stored.refresh_from_db()
    assert stored.status == DeliveryStatus.DELIVERED
    assert stored.deliveries.order_by("-attempted_at").first().manual


def test_a_leads_events_arrive_in_order_even_when_the_first_fails(clock, receiver, hooked, tick):
    lead, other = LeadFactory(source=hooked), LeadFactory(source=hooked)
    receiver.fail(1, status=500)
    first = event(lead, FeedbackEventType.CONTACTED)
    second = event(lead, FeedbackEventType.APPOINTMENT)
    unrelated = event(other)

    tick()  # the first fails; the second waits for it; another lead's goes on
    assert [json.loads(r.body)["id"] for r in receiver.requests] == [first.pk, unrelated.pk]
    clock.shift(datetime.timedelta(seconds=31))
    tick()
    tick()

    ids = [json.loads(r.body)["id"] for r in receiver.requests]
    assert ids == [first.pk, unrelated.pk, first.pk, second.pk]


def test_each_source_gets_only_its_own_events_signed_with_its_own_secret(clock, tick):
    with WebhookReceiver() as one, WebhookReceiver() as two:
        first = LeadSourceFactory(feedback_webhook_url=one.url)
        second = LeadSourceFactory(feedback_webhook_url=two.url)
        mine, theirs = event(LeadFactory(source=first)), event(LeadFactory(source=second))

        tick()

        verify = guide_verifier()
        assert [json.loads(r.body)["id"] for r in one.requests] == [mine.pk]
        assert [json.loads(r.body)["id"] for r in two.requests] == [theirs.pk]
        header = one.requests[0].headers["Leadline-Signature"]
        assert verify(first.webhook_signing_secret, one.requests[0].body, header)
        assert not verify(second.webhook_signing_secret, one.requests[0].body, header)


def test_a_hanging_receiver_does_not_hold_up_another_sources_events(clock, tick, settings):
    settings.FEEDBACK_TIMEOUT_SECONDS = 0.5
    with WebhookReceiver() as slow, WebhookReceiver() as fast:
        slow.hang(100, seconds=3)
        hanging = LeadSourceFactory(feedback_webhook_url=slow.url)
        healthy = LeadSourceFactory(feedback_webhook_url=fast.url)
        for _ in range(5):
            event(LeadFactory(source=hanging))
            event(LeadFactory(source=healthy))

        tick()

        assert len(fast.requests) == 5
        # One timeout and the rest of that source's batch waits with it: not five timeouts.
        assert FeedbackDelivery.objects.filter(event__source=hanging).count() == 1
        waiting = FeedbackEvent.objects.filter(source=hanging, status=DeliveryStatus.PENDING)
        assert waiting.count() == 5
        assert len({e.next_attempt_at for e in waiting}) == 1


def test_without_a_feedback_url_events_are_kept_for_exports_only(clock, source, tick):
    event(LeadFactory(source=source))
    assert FeedbackEvent.objects.get().status == DeliveryStatus.NOT_SENT
    assert tick() == 0


def test_a_claimed_event_is_leased_not_claimed_twice(clock, hooked, monkeypatch, settings):
    sent = []
    monkeypatch.setattr(webhooks, "_queue_delivery", lambda ids, lease: sent.append(ids))
    event(LeadFactory(source=hooked))

    assert feedback_deliveries_dispatch() == 1
    assert feedback_deliveries_dispatch() == 0  # leased to the first task
    clock.shift(datetime.timedelta(seconds=settings.FEEDBACK_LEASE_SECONDS + 1))
    assert feedback_deliveries_dispatch() == 1  # the task never ran: claimed again


def test_a_task_whose_lease_ran_out_posts_nothing(clock, receiver, hooked):
    stored = event(LeadFactory(source=hooked))
    stale = (timezone.now() - datetime.timedelta(minutes=1)).isoformat()
    assert webhooks.feedback_events_deliver(event_ids=[stored.pk], lease=stale) == 0
    assert receiver.requests == []


def test_the_outbox_row_is_rolled_back_with_the_conversion(hooked):
    lead = LeadFactory(source=hooked)
    with pytest.raises(RuntimeError), transaction.atomic():
        sale(lead)
        assert FeedbackEvent.objects.filter(lead=lead).count() == 1
        raise RuntimeError("the request failed after recording the sale")
    assert not FeedbackEvent.objects.exists() and not Conversion.objects.exists()


def test_a_conversion_is_rolled_back_when_its_event_cannot_be_written(hooked, monkeypatch):
    from leads import lifecycle

    def broken(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(lifecycle, "conversion_feedback_record", broken)
    lead = LeadFactory(source=hooked)
    with pytest.raises(RuntimeError):
        sale(lead)
    assert not Conversion.objects.exists()
    lead.refresh_from_db()
    assert lead.status == "new"


def test_a_return_and_its_decision_are_events_with_the_reason(clock, receiver, hooked, tick):
    from leads.feedback.returns import return_accept

    lead_return = return_request(lead=LeadFactory(source=hooked), reason="fraud", origin="rep")
    return_accept(lead_return=lead_return)
    tick()
    tick()

    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [(b["type"], b["reason"]) for b in bodies] == [
        ("lead.returned", "fraud"),
        ("return.accepted", "fraud"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_posts_what_the_clock_dispatched(receiver):
    import os
    import time
    import uuid

    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from crm.celery import app as celery_app
    from tests.conftest import require_service

    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    source = LeadSourceFactory(feedback_webhook_url=receiver.url)
    events = [event(LeadFactory(source=source)) for _ in range(3)]
    queue = f"test-feedback-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_default_queue = queue
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue]):
            assert feedback_deliveries_dispatch() == 3
            receiver.wait_for(3, timeout=20)
            delivered = FeedbackEvent.objects.filter(status=DeliveryStatus.DELIVERED)
            deadline = time.monotonic() + 20
            while delivered.count() < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        celery_app.conf.task_default_queue = "celery"

    assert sorted(json.loads(r.body)["id"] for r in receiver.requests) == [e.pk for e in events]
    assert delivered.count() == 3


def test_a_slow_receiver_cannot_keep_a_task_past_its_time(clock, receiver, hooked, tick, settings):
    settings.FEEDBACK_TASK_SECONDS = 0.3
    receiver.slow(100, seconds=0.2)
    for _ in range(5):
        event(LeadFactory(source=hooked))

    tick()

    delivered = FeedbackEvent.objects.filter(status=DeliveryStatus.DELIVERED).count()
    assert 1 <= delivered <= 3
    # The rest go back to the clock, due now, no attempt counted: the next tick takes them.
    left = FeedbackEvent.objects.exclude(status=DeliveryStatus.DELIVERED)
    assert all(e.attempts == 0 and e.next_attempt_at <= timezone.now() for e in left)
    assert FeedbackDelivery.objects.count() == delivered
    while FeedbackEvent.objects.exclude(status=DeliveryStatus.DELIVERED).exists():
        tick()
    assert len(receiver.requests) == 5
