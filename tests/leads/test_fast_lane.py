"""The fast lane after intake: the hand-off, real Celery workers on Redis, and the clock's sweep."""

import io
import json
import logging
import os
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from compliance.models import ConsentRecord
from crm.celery import app as celery_app
from leads import fastlane
from leads.intake import handoff
from leads.models import Lead
from leads.tasks import drain_new_leads, process_new_leads
from tests.conftest import require_service
from tests.leads.test_api_intake import lead_payload, post

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_only():
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")


@pytest.fixture
def queued(monkeypatch, redis_only):
    """Record drain tasks instead of publishing them; start from an empty hand-off list."""
    published = []
    monkeypatch.setattr(drain_new_leads, "apply_async", lambda *a, **k: published.append("drain"))
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


def test_a_hand_off_with_redis_away_is_logged_not_raised(settings, caplog):
    settings.REDIS_URL = UNREACHABLE_REDIS
    caplog.set_level(logging.WARNING)  # a real worker earlier in the run may have raised it

    handoff.new_leads_hand_off(lead_ids=[1, 2])

    assert "Could not hand 2 new lead(s) to the fast lane" in caplog.text


@pytest.mark.django_db
def test_with_redis_away_a_posted_lead_is_stored_and_the_sweep_processes_it(
    client, source, settings, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    settings.REDIS_URL = UNREACHABLE_REDIS  # the throttle and the hand-off both fail
    caplog.set_level(logging.WARNING)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, source, lead_payload())

    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.processed_at is None
    assert "Could not hand 1 new lead(s) to the fast lane" in caplog.text
    assert "not counted: Redis is unreachable" in caplog.text
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert fastlane.unprocessed_leads_process() == 1
    lead.refresh_from_db()
    assert lead.processed_at is not None and lead.score > 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_scores_records_and_marks_a_posted_lead(client, source, redis_only):
    queue = f"test-fast-lane-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex}"
    celery_app.conf.task_default_queue = queue
    try:
        with start_worker(celery_app, perform_ping_check=False, queues=[queue]):
            response = post(client, source, lead_payload())
            lead = Lead.objects.get(pk=response.json()["id"])
            deadline = time.monotonic() + 20
            processed = Lead.objects.filter(pk=lead.pk, processed_at__isnull=False)
            while time.monotonic() < deadline and not processed.exists():
                time.sleep(0.05)
            lead.refresh_from_db()
    finally:
        celery_app.conf.task_default_queue = "celery"

    assert response.status_code == 201, json.dumps(response.json())
    assert lead.processed_at is not None
    assert lead.score > 0
    assert lead.history.earliest().history_change_reason == fastlane.RECEIVED
    assert lead.history.latest().history_change_reason == fastlane.SCORED
    assert ConsentRecord.objects.get(lead=lead).history.count() == 1


@pytest.fixture
def lost_hand_offs(monkeypatch, eager_tasks):
    """Leads stored while their hand-off to the fast lane is lost."""
    monkeypatch.setattr("leads.intake.service.new_leads_hand_off", lambda lead_ids: None)


@pytest.mark.django_db
def test_the_clock_processes_a_lead_that_missed_the_fast_lane(client, source, lost_hand_offs):
    lead_id = post(client, source, lead_payload()).json()["id"]
    lead = Lead.objects.get(pk=lead_id)
    assert (lead.score, lead.processed_at, lead.history.count()) == (0, None, 0)

    call_command("run_clock", "--once", stdout=io.StringIO())  # received just now: left alone
    assert Lead.objects.get(pk=lead_id).processed_at is None

    out = io.StringIO()
    with time_machine.travel(timezone.now() + fastlane.SWEEP_GRACE + timedelta(seconds=1)):
        call_command("run_clock", "--once", stdout=out)

    lead.refresh_from_db()
    assert "Processed 1 lead(s) that missed the fast lane." in out.getvalue()
    assert lead.score > 0 and lead.processed_at is not None
    assert lead.history.earliest().history_change_reason == fastlane.RECEIVED


@pytest.mark.django_db
def test_a_lead_handed_off_twice_is_processed_once(client, source, lost_hand_offs):
    lead_id = post(client, source, lead_payload()).json()["id"]

    process_new_leads.delay([lead_id])
    process_new_leads.delay([lead_id, lead_id])

    assert Lead.history.filter(id=lead_id, history_type="+").count() == 1
    assert ConsentRecord.history.filter(lead_id=lead_id).count() == 1
    assert Lead.history.filter(id=lead_id).count() == 2  # received, then scored


@pytest.fixture
def poisoned(monkeypatch):
    """The scorer fails on leads whose first name is Poison."""
    real = fastlane.lead_score

    def score(*, lead, consent_channels):
        if lead.first_name == "Poison":
            raise ValueError("cannot score this lead")
        return real(lead=lead, consent_channels=consent_channels)

    monkeypatch.setattr(fastlane, "lead_score", score)


@pytest.mark.django_db
def test_one_failing_lead_holds_back_no_other_and_is_left_to_a_person_after_three_tries(
    client, source, lost_hand_offs, poisoned
):
    bad = post(client, source, lead_payload(source_lead_id="SP-1", first_name="Poison")).json()
    good = post(
        client, source, lead_payload(source_lead_id="SP-2", phone="(305) 555-0199", email="")
    ).json()

    assert fastlane.leads_process(lead_ids=[bad["id"], good["id"]]) == 1

    assert Lead.objects.get(pk=good["id"]).processed_at is not None
    bad_lead = Lead.objects.get(pk=bad["id"])
    assert (bad_lead.processed_at, bad_lead.fast_lane_failures) == (None, 1)
    assert not Lead.history.filter(id=bad["id"]).exists()  # its transaction was rolled back
    later = timezone.now() + timedelta(minutes=1)
    with time_machine.travel(later):
        assert fastlane.unprocessed_leads_process() == 0  # second failure
        assert fastlane.unprocessed_leads_process() == 0  # third: given up
        assert list(Lead.objects.unprocessed()) == []
    assert list(Lead.objects.fast_lane_failed().values_list("pk", flat=True)) == [bad["id"]]
    assert Lead.objects.get(pk=bad["id"]).fast_lane_failures == 3


@pytest.mark.django_db
def test_the_sweep_leaves_processed_leads_alone(
    client, source, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead_id = post(client, source, lead_payload()).json()["id"]
    Lead.objects.update(received_at=F("received_at") - timedelta(minutes=2))

    assert Lead.objects.get(pk=lead_id).processed_at is not None  # in-process fast lane
    assert fastlane.unprocessed_leads_process() == 0


@pytest.mark.django_db
def test_the_score_is_the_sum_of_named_factors_shown_to_the_rep(
    client, source, rep, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead_id = post(client, source, lead_payload()).json()["id"]
    lead = Lead.objects.get(pk=lead_id)
    Lead.objects.filter(pk=lead_id).update(owner=rep)

    factors = dict(lead.score_factors)
    assert lead.score == min(100, sum(factors.values()))
    assert factors["base"] == 40 and factors["exclusive"] == 10
    assert factors["consent to calls"] == 10 and factors["consent to texts"] == 5
    client.force_login(rep)
    page = client.get(f"/leads/{lead_id}/").content.decode()
    assert "40 base" in page and "+10 exclusive" in page
