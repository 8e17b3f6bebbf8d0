import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection
from rq import Queue, SimpleWorker

from crm.celery import app as celery_app
from crm.queues import rq_queue
from leads.models import Lead
from tests.conftest import IN_CI, require_service
from tests.factories import LeadFactory


def count_leads() -> int:
    """An RQ job that touches the database, run by the workers below."""
    return Lead.objects.count()


def _redis_client():
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as error:
        require_service("Redis", False, f"cannot reach {settings.REDIS_URL}: {error}")
    return client


def test_health_check_reports_the_database(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] is True


@pytest.mark.django_db
def test_ci_runs_against_postgresql():
    require_service(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0]


def test_ci_reaches_redis():
    if not IN_CI:
        pytest.skip("only CI must run with REDIS_URL")
    assert _redis_client().ping()


@pytest.mark.django_db
def test_rq_worker_runs_a_job_on_real_redis(client):
    redis_client = _redis_client()
    LeadFactory.create_batch(3)
    queue = Queue(f"test-{uuid.uuid4().hex}", connection=redis_client)

    job = queue.enqueue(count_leads)
    SimpleWorker([queue], connection=redis_client).work(burst=True)

    job.refresh()
    assert job.is_finished
    assert job.return_value() == 3
    queue.delete(delete_jobs=True)


@pytest.mark.django_db
def test_rq_runs_jobs_in_process_without_redis_after_commit(
    settings, django_capture_on_commit_callbacks
):
    settings.TASKS_IN_PROCESS = True
    LeadFactory.create_batch(2)
    queue = rq_queue("imports")

    before = set(queue.finished_job_registry.get_job_ids())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue.enqueue(count_leads)
        assert set(queue.finished_job_registry.get_job_ids()) == before  # not before commit

    assert len(callbacks) == 1
    (job_id,) = set(queue.finished_job_registry.get_job_ids()) - before
    assert queue.fetch_job(job_id).return_value() == 2


def test_celery_reaches_its_broker():
    _redis_client()
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1)
        assert broker.as_uri().startswith("redis://")


@pytest.mark.django_db
def test_a_task_queued_by_name_runs_in_process_without_redis(eager_tasks, source):
    lead = LeadFactory(source=source, processed_at=None)

    celery_app.signature("leads.tasks.process_new_leads", args=[[lead.pk]]).delay()

    lead.refresh_from_db()
    assert lead.processed_at is not None
