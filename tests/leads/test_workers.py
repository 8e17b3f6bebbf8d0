"""The sending path with real processes: a Celery worker and beat and an RQ worker started as
subprocesses on the test PostgreSQL database and Redis, sending to a local Twilio-shaped
server and a real SMTP server.

Texts here are transactional (a reply is not held to calling hours) and emails marketing
(no hours either), so no test depends on the hour it runs at.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from compliance.gate import decide
from compliance.models import Purpose, SuppressionOrigin
from compliance.suppressions import suppression_add
from crm.celery import app as celery_app
from leads.cadences.touches import touch_schedule
from leads.models import Cadence, Touch, TouchStatus
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_server import FakeTwilio

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, TOKEN, FROM = "AC0000000000test", "worker-test-token", "+13055550999"
BUSINESS = "Brightside Home Services"
WAIT_SECONDS = 30


def wait_for(condition, *, what: str, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"Timed out after {seconds:.0f} s waiting for {what}.")


class Processes:
    """The subprocesses of one test; each one's output is kept in a log file."""

    def __init__(self, env: dict[str, str], queue: str, logs: Path):
        self.env, self.queue, self.logs = env, queue, logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{len(self.running)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches its pool's children
        )
        self.running[name] = process
        return process

    def worker(self) -> subprocess.Popen:
        return self.start(
            "worker",
            *("-m", "celery", "-A", "crm", "worker", "-Q", self.queue, "--concurrency=2"),
            *("--without-mingle", "--without-gossip", "--loglevel=INFO"),
        )

    def beat(self) -> subprocess.Popen:
        schedule = self.logs / "celerybeat-schedule"
        return self.start(
            "beat",
            *("-m", "celery", "-A", "crm", "beat", "--loglevel=INFO", "-s", str(schedule)),
        )

    def rqworker(self) -> subprocess.Popen:
        return self.start("rqworker", "manage.py", "rqworker", "default")

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:  # the main process: a Celery worker shuts down warm
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.running.clear()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}" for path in self.logs.glob("*.log")
        )


@pytest.fixture
def redis_client():
    require_service("Redis", bool(settings.REDIS_URL), "set REDIS_URL=redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    client.ping()
    return client


@pytest.fixture
def world(redis_client, tmp_path, settings):
    require_service(
        "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL URL"
    )
    # The clock's sweep puts the factories' leads through the fast lane: without this the
    # shipped "Speed to lead" cadence would text and email them beside what a test sends.
    Cadence.objects.update(is_active=False)
    queue = f"test-workers-{uuid.uuid4().hex[:12]}"
    database = connection.settings_dict
    with FakeTwilio(ACCOUNT, TOKEN) as twilio, SmtpServer() as smtp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": (
                f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
                f"{database['PORT'] or 5432}/{database['NAME']}"
            ),
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": f"{queue}:",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "SECRET_KEY": "worker-test-secret-key-not-for-production",
            "DEBUG": "0",
            "SITE_URL": "https://crm.example.com",
            "SELLER_NAMES": BUSINESS,
            "BUSINESS_POSTAL_ADDRESS": "100 Main St, Miami, FL 33130",
            "SMS_BACKEND": "crm.sms.TwilioBackend",
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": twilio.url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_USE_TLS": "0",
            "CLOCK_TICK_SECONDS": "1",
            "SEND_INTERRUPTED_AFTER_SECONDS": "2",
            "SEND_REQUEUE_AFTER_SECONDS": "2",
            "DB_CONN_MAX_AGE": "0",
        }
        # This process schedules the touches: as the workers are configured, on their queue.
        settings.SELLER_NAMES = [BUSINESS]
        settings.BUSINESS_POSTAL_ADDRESS = env["BUSINESS_POSTAL_ADDRESS"]
        settings.SITE_URL = env["SITE_URL"]
        settings.REDIS_KEY_PREFIX = env["REDIS_KEY_PREFIX"]  # intake's hand-off to the workers
        eager, default_queue = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_default_queue = queue
        processes = Processes(env, queue, tmp_path)
        try:
            yield processes, twilio, smtp
        finally:
            processes.stop_all()
            celery_app.conf.task_always_eager = eager
            celery_app.conf.task_default_queue = default_queue
            redis_client.delete(queue)


def consented_lead(n: int = 0, **fields):
    lead = LeadFactory(
        phone=f"+1305555{n:04d}",
        email=f"lead{n}@example.com",
        received_at=timezone.now() - timezone.timedelta(minutes=5),
        **fields,
    )
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def text(lead, body: str) -> Touch:
    return touch_schedule(
        lead=lead, channel="sms", body=body, purpose=Purpose.TRANSACTIONAL, automated=True
    )


def email(lead, body: str, **fields) -> Touch:
    return touch_schedule(lead=lead, channel="email", subject="Your quote", body=body, **fields)


def statuses(touches) -> list[str]:
    return list(
        Touch.objects.filter(pk__in=[t.pk for t in touches])
        .order_by("pk")
        .values_list("status", flat=True)
    )


def test_real_workers_send_texts_and_emails_retry_and_send_what_falls_due(world):
    processes, twilio, smtp = world
    processes.worker()
    processes.beat()
    processes.rqworker()
    lead = consented_lead(1)
    twilio.fail_next(503)  # busy at first: the task retries with backoff

    first_text = text(lead, "Thanks, we got your request.")
    first_email = email(lead, "Here is your quote.")
    later = email(lead, "A day later.", due_at=timezone.now() + timezone.timedelta(seconds=2))
    assert Touch.objects.get(pk=later.pk).status == TouchStatus.SCHEDULED

    try:
        wait_for(lambda: twilio.sent_to(str(lead.phone)), what="the text at Twilio")
        wait_for(lambda: len(smtp.to(lead.email)) == 2, what="both emails at the SMTP server")
        wait_for(
            lambda: statuses([first_text, first_email, later]) == [TouchStatus.SENT] * 3,
            what="the touches recorded sent",
        )
    except pytest.fail.Exception:
        print(processes.log_text())
        raise
    assert twilio.sent_to(str(lead.phone)) == ["Thanks, we got your request."]
    [quote, _day_later] = sorted(smtp.to(lead.email), key=lambda m: m.get_content())
    assert "100 Main St, Miami, FL 33130" in quote.get_content()
    assert quote["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    touch = Touch.objects.get(pk=first_text.pk)
    assert touch.provider_message_id == twilio.messages[0].sid and touch.attempt_id
    assert touch.send_attempts == 2

    # The RQ worker runs long jobs beside them.
    from crm.queues import rq_queue

    job = rq_queue("default").enqueue("tests.test_infrastructure.count_leads")
    wait_for(lambda: job.refresh() or job.is_finished, what="the RQ job", seconds=15)
    assert job.return_value() == 1


def test_an_opt_out_recorded_between_scheduling_and_sending_blocks_the_send(world):
    processes, _, smtp = world
    lead = consented_lead(2)
    touch = email(lead, "See you soon.", due_at=timezone.now() + timezone.timedelta(seconds=2))
    assert Touch.objects.get(pk=touch.pk).status == TouchStatus.SCHEDULED

    suppression_add(origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE, email=lead.email, scope="email")
    processes.worker()
    processes.beat()

    wait_for(
        lambda: statuses([touch]) == [TouchStatus.BLOCKED],
        what="the email blocked at the instant of sending",
    )
    assert smtp.messages == []


def test_a_worker_killed_mid_send_loses_no_touch_and_sends_none_twice(world):
    processes, twilio, _ = world
    processes.worker()
    processes.beat()
    lead = consented_lead(3)
    twilio.hang.set()  # Twilio takes the text, and its answer never comes

    touch = text(lead, "Your appointment is confirmed.")
    wait_for(lambda: twilio.sent_to(str(lead.phone)), what="the text to reach Twilio")
    assert statuses([touch]) == [TouchStatus.SENDING]
    processes.kill("worker")
    twilio.hang.clear()
    twilio.released.set()
    processes.worker()

    wait_for(lambda: statuses([touch]) == [TouchStatus.SENT], what="the send reconciled")
    touch.refresh_from_db()
    [message] = twilio.messages
    assert touch.provider_message_id == message.sid
    assert touch.send_attempts == 1
    time.sleep(1.5)  # a redelivered task, had there been one, would have run by now
    assert len(twilio.messages) == 1


def test_a_flushed_redis_loses_no_due_touch(world, redis_client):
    processes, twilio, smtp = world
    leads = [consented_lead(10 + n) for n in range(3)]
    touches = [text(lead, f"Reply #{n}") for n, lead in enumerate(leads)]
    touches.append(email(leads[0], "Your quote."))
    assert set(statuses(touches)) == {TouchStatus.QUEUED}  # their tasks wait in Redis

    redis_client.flushdb()
    processes.worker()
    processes.beat()

    wait_for(lambda: statuses(touches) == [TouchStatus.SENT] * 4, what="every touch sent after all")
    assert sorted(m.body for m in twilio.messages) == ["Reply #0", "Reply #1", "Reply #2"]
    assert len(smtp.messages) == 1


def test_a_lead_posted_through_the_api_gets_its_first_text_and_email_from_its_cadence(
    world, client
):
    from leads.models import CadenceStep, StepChannel
    from tests.factories import LeadSourceFactory

    processes, twilio, smtp = world
    processes.worker()
    processes.beat()
    cadence = Cadence.objects.create(name="First touch")
    CadenceStep.objects.create(
        cadence=cadence,
        position=0,
        channel=StepChannel.EMAIL,
        delay_minutes=0,
        subject_template="Your quote, {{ lead.first_name }}",
        body_template="Thanks for asking about solar.",
    )
    CadenceStep.objects.create(
        cadence=cadence,
        position=1,
        channel=StepChannel.SMS,
        delay_minutes=0,
        body_template="Hi {{ lead.first_name }}, thanks for asking about solar.",
    )
    source = LeadSourceFactory(cadence=cadence)
    captured = timezone.now() - timezone.timedelta(minutes=1)
    response = client.post(
        "/api/v1/leads/",
        {
            "source_lead_id": "W-1",
            "first_name": "Dana",
            "last_name": "Whitfield",
            "phone": "(305) 555-0142",
            "email": "dana@example.com",
            "state": "FL",
            "zip": "33130",
            "consent": {
                "captured_at": captured.isoformat(),
                "ip": "198.51.100.7",
                "page_url": "https://quotes.example.com/solar",
                "disclosure_text": f"I agree that {BUSINESS} may call, text and email me.",
                "sellers": [BUSINESS],
                "channels": ["call", "sms", "email"],
            },
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
    )
    assert response.status_code in (200, 201), response.content

    wait_for(lambda: smtp.to("dana@example.com"), what="the cadence's first email", seconds=10)
    text = Touch.objects.get(lead__source=source, channel="sms")
    # The gate follows the real clock: inside Florida's calling hours the text goes at once,
    # outside them it waits, scheduled, for the instant they open.
    decision = decide(lead=text.lead, channel="sms", at=timezone.now())
    if decision.allowed:
        wait_for(lambda: twilio.sent_to("+13055550142"), what="the cadence's first text")
    else:
        text.refresh_from_db()
        assert text.status == TouchStatus.SCHEDULED and text.due_at == decision.next_allowed_at
