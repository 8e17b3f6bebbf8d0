"""The fast lane after intake: new leads reach a real Celery worker through Redis."""

import io
import json
import os
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from compliance.models import ConsentRecord
from crm.celery import app as celery_app
from leads.intake import handoff
from leads.intake.service import intake_history_record
from leads.models import Lead
from tests.conftest import require_service
from tests.leads.test_api_intake import lead_payload, post


@pytest.fixture
def redis_only():
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")


@pytest.fixture
def queued(monkeypatch, redis_only):
    """Record drain tasks instead of publishing them; start from an empty hand-off list."""
    published = []
    monkeypatch.setattr("leads.tasks.drain_new_leads.delay", lambda: published.append("drain"))
    handoff.new_leads_take(limit=100_000)
    return published


def test_many_hand_offs_schedule_one_drain(queued):
    handoff.new_leads_hand_off(lead_ids=[1, 2])
    handoff.new_leads_hand_off(lead_ids=[3])

    assert queued == ["drain"]
    assert handoff.new_leads_take() == ([1, 2, 3], False)


def test_a_lead_queued_after_a_drain_starts_schedules_another(queued):
    handoff.new_leads_hand_off(lead_ids=[1])
    handoff.new_leads_take()

    handoff.new_leads_hand_off(lead_ids=[2])

    assert queued == ["drain", "drain"]
    assert handoff.new_leads_take() == ([2], False)


def test_a_long_queue_is_taken_in_chunks(queued):
    handoff.new_leads_hand_off(lead_ids=list(range(1, 8)))

    assert handoff.new_leads_take(limit=5) == ([1, 2, 3, 4, 5], True)
    assert handoff.new_leads_take(limit=5) == ([6, 7], False)


@pytest.fixture
def holding(monkeypatch, queued):
    """A web process's hand-offs (crm.wsgi): held, then sent with the next intake count."""
    handoff._process_client.cache_clear()  # a client, held ids and flusher of its own
    monkeypatch.setattr(handoff, "_deferring", True)
    yield handoff._client().held
    handoff._client().held.ids.clear()
    handoff._process_client.cache_clear()


def test_held_leads_go_with_the_next_intake_count(monkeypatch, holding, queued):
    monkeypatch.setattr(handoff, "HAND_OFF_DELAY", 60)  # the flusher stays out of this test
    handoff.new_leads_hand_off(lead_ids=[1, 2])
    handoff.new_leads_hand_off(lead_ids=[3])
    assert handoff.new_leads_take() == ([], False)  # held in the process

    first = handoff.intake_window_hit(key="intake:1", window_seconds=60)
    second = handoff.intake_window_hit(key="intake:1", window_seconds=60)

    assert (first[0], second[0]) == (1, 2)
    assert queued == ["drain"]
    assert handoff.new_leads_take() == ([1, 2, 3], False)


def test_held_leads_are_sent_without_another_request(holding, queued):
    handoff.new_leads_hand_off(lead_ids=[7])

    deadline = time.monotonic() + 10
    taken = []
    while time.monotonic() < deadline and not taken:
        time.sleep(0.02)
        taken = handoff.new_leads_take()[0]

    assert taken == [7]
    assert queued == ["drain"]
    assert holding.ids == []


def test_held_leads_survive_a_failed_count(monkeypatch, holding, queued):
    import redis

    monkeypatch.setattr(handoff, "HAND_OFF_DELAY", 60)
    handoff.new_leads_hand_off(lead_ids=[4])

    def refuse(*args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(handoff._client(), "count_and_queue", refuse)
    with pytest.raises(redis.ConnectionError):
        handoff.intake_window_hit(key="intake:1", window_seconds=60)

    assert holding.ids == [4]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held", [False, True], ids=["sent-at-once", "held-by-the-process"])
def test_a_real_worker_scores_and_records_a_posted_lead(
    client, source, redis_only, monkeypatch, held
):
    if held:
        handoff._process_client.cache_clear()
        monkeypatch.setattr(handoff, "_deferring", True)
    queue = f"test-fast-lane-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_default_queue = queue
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue]):
            response = post(client, source, lead_payload())
            lead = Lead.objects.get(pk=response.json()["id"])
            deadline = time.monotonic() + 20
            scored = Lead.objects.filter(pk=lead.pk, score__gt=0)
            while time.monotonic() < deadline and not scored.exists():
                time.sleep(0.1)
            lead.refresh_from_db()
    finally:
        celery_app.conf.task_default_queue = "celery"
        handoff._process_client.cache_clear()

    assert response.status_code == 201, json.dumps(response.json())
    assert lead.score > 0
    assert lead.history.earliest().history_change_reason == "Received from the source"
    assert ConsentRecord.objects.get(lead=lead).history.count() == 1


@pytest.fixture
def lost_hand_offs(monkeypatch, eager_tasks):
    """Leads stored while their hand-off to the fast lane is lost; the sweep starts afresh."""
    from django.core.cache import cache

    monkeypatch.setattr("leads.intake.service._after_intake", lambda lead_ids: None)
    cache.delete(handoff._key(handoff.SWEPT_UNTIL_KEY))
    yield
    cache.delete(handoff._key(handoff.SWEPT_UNTIL_KEY))


def test_the_clock_hands_off_a_lead_that_missed_the_fast_lane(
    client, source, lost_hand_offs, monkeypatch
):
    lead_id = post(client, source, lead_payload()).json()["id"]
    lead = Lead.objects.get(pk=lead_id)
    assert (lead.score, lead.history.count()) == (0, 0)

    call_command("run_clock", "--once", stdout=io.StringIO())  # received just now: left alone
    assert Lead.objects.get(pk=lead_id).score == 0

    later = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(handoff, "timezone", SimpleNamespace(now=lambda: later))
    out = io.StringIO()
    call_command("run_clock", "--once", stdout=out)

    lead.refresh_from_db()
    assert "Handed 1 lead(s) that missed it to the fast lane." in out.getvalue()
    assert lead.score > 0
    assert lead.history.earliest().history_change_reason == "Received from the source"


def test_the_sweep_leaves_processed_leads_and_does_not_look_twice(client, source, lost_hand_offs):
    missed = post(client, source, lead_payload(source_lead_id="SP-1")).json()["id"]
    processed = post(
        client, source, lead_payload(source_lead_id="SP-2", phone="(305) 555-0199", email="")
    ).json()["id"]
    intake_history_record(lead_ids=[processed])
    Lead.objects.update(received_at=F("received_at") - timedelta(minutes=2))

    assert handoff.unprocessed_leads_hand_off() == 1
    assert Lead.history.filter(id=missed, history_type="+").exists()
    assert handoff.unprocessed_leads_hand_off() == 0
