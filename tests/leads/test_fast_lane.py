"""The fast lane after intake: new leads reach a real Celery worker through Redis."""

import json
import os
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from compliance.models import ConsentRecord
from crm.celery import app as celery_app
from leads.intake import handoff
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


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_scores_and_records_a_posted_lead(client, source, redis_only):
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

    assert response.status_code == 201, json.dumps(response.json())
    assert lead.score > 0
    assert lead.history.earliest().history_change_reason == "Received from the source"
    assert ConsentRecord.objects.get(lead=lead).history.count() == 1
