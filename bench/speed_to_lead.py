"""Measure the sending path: due touches dispatched and sent per second, and speed to lead.

Usage: .venv/bin/python bench/speed_to_lead.py [--touches 100000] [--leads 1000] [--rate 10]
           [--worker-concurrency 2] [--skip dispatch speed] [--quick]

Needs PostgreSQL (DATABASE_URL names the server; the benchmark uses its own database,
BENCH_DATABASE, default leadline_bench) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15,
or /14 with --quick: the Celery broker and the send-rate buckets, as in production; the
benchmark empties that Redis database when it ends). --quick runs both phases at tiny sizes
in leadline_bench_quick unless BENCH_DATABASE names another: seconds, to show it still runs.

Prints:
- dispatch: --touches due marketing emails (to 1 lead in 10, without consent records, since
  email needs none) handed out by the clock's own function (`due_touches_dispatch`, as beat
  calls it, driven back to back by this script) to a real Celery worker, which claims each,
  asks the compliance gate, renders and hands it to Django's in-memory email backend and
  records it sent with its attempt: touches a second from the first dispatch to the last
  touch recorded sent, beside a bare loop that claims the same rows with `FOR UPDATE SKIP
  LOCKED` and marks them sent, 500 at a time; and whether every touch was sent exactly once;
- speed to lead: with gunicorn, a Celery worker and beat, a local SMTP server (aiosmtpd) and
  a local Twilio-shaped server, --leads leads posted at --rate a second, each timed from its
  2xx answer (as the client read it) to its first automated email arriving at the SMTP
  server, and to its first text at the Twilio-shaped server when calling hours allow texts
  to the leads' zone (Florida) now: p50 and p99, and how many leads got no first touch. The
  leads' source follows a cadence whose first steps (an email and a text) are due at once;
  the fast lane plans them at intake, else the phase says none was planned.
"""

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    ROOT,
    insert_select_parts,
    quick_database_default,
    server_env,
    setup_django,
)

QUICK_SIZES = {"touches": 2_000, "leads": 20, "rate": 10.0}
DISPATCH_SOURCE = "Bench speed-to-lead dispatch"
SPEED_SOURCE_PREFIX = "Bench speed-to-lead vendor"
BUSINESS = "Brightside Home Services"
QUEUE = "bench-speed-to-lead"
WAIT_SECONDS = 120
FIRST_TOUCH_WAIT_SECONDS = 10
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=100, method="inclusive")[98]


def _start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )


def _stop(process: subprocess.Popen) -> None:
    # The main process only: a Celery worker then shuts down warm, finishing its tasks.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _worker(env: dict, concurrency: int) -> subprocess.Popen:
    return _start(
        [str(BIN / "celery"), "-A", "crm", "worker", "-Q", QUEUE, "--loglevel", "WARNING",
         f"--concurrency={concurrency}", "--without-mingle", "--without-gossip"],
        env,
    )  # fmt: skip


def _bench_rows_delete(source_ids: list[int]) -> None:
    """Delete what earlier runs' touches left: decisions, touches, attempts of these sources."""
    from django.db import connection

    if not source_ids:
        return
    with connection.cursor() as cursor:
        leads = "SELECT id FROM leads_lead WHERE source_id = ANY(%s)"
        cursor.execute(
            f"DELETE FROM compliance_contactdecision WHERE lead_id IN ({leads})", [source_ids]
        )
        cursor.execute(f"DELETE FROM leads_touch WHERE lead_id IN ({leads})", [source_ids])
        cursor.execute(f"DELETE FROM leads_contactattempt WHERE lead_id IN ({leads})", [source_ids])


# ---------------------------------------------------------------------------------------------
# Dispatch throughput


def _dispatch_load(touches: int) -> tuple[int, list[int]]:
    """Give the dispatch source touches // 10 leads (once) and `touches` due emails to them."""
    from django.db import connection

    from leads.models import Lead, LeadSource, Touch
    from leads.sources import source_create

    source = LeadSource.objects.filter(name=DISPATCH_SOURCE).first()
    if source is None:
        source, _ = source_create(name=DISPATCH_SOURCE)
    _bench_rows_delete([source.pk])
    wanted = max(1, touches // 10)
    have = Lead.objects.filter(source=source).count()
    if have < wanted:
        columns, values, params = insert_select_parts(
            connection,
            Lead,
            {
                "source_id": "%(source)s",
                "source_lead_id": "'dispatch-' || n",
                "received_at": "now() - interval '1 day'",
                "first_name": "'Lee'",
                "email": "'dispatch' || n || '@example.com'",
                "phone": "'+1212' || lpad((5000000 + n)::text, 7, '0')",
                "state": "'NY'",
                "zip_code": "'10001'",
                "time_zone": "'America/New_York'",
                "processed_at": "now()",
            },
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO leads_lead ({', '.join(columns)}) SELECT {', '.join(values)} "
                "FROM generate_series(%(first)s, %(last)s) AS n",
                {**params, "source": source.pk, "first": have, "last": wanted - 1},
            )
    lead_ids = list(
        Lead.objects.filter(source=source).order_by("pk").values_list("pk", flat=True)[:wanted]
    )
    columns, values, params = insert_select_parts(
        connection,
        Touch,
        {
            "lead_id": "(%(leads)s::bigint[])[1 + n %% %(count)s]",
            "channel": "'email'",
            "subject": "'Your quote'",
            "body": "'Here is the quote you asked for, number ' || n || '.'",
            "due_at": "now() - interval '1 minute'",
            "status": "'scheduled'",
        },
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO leads_touch ({', '.join(columns)}) SELECT {', '.join(values)} "
            "FROM generate_series(0, %(last)s) AS n",
            {**params, "leads": lead_ids, "count": len(lead_ids), "last": touches - 1},
        )
        cursor.execute("VACUUM ANALYZE leads_touch")
    return source.pk, lead_ids


def _bare_claim_and_mark(touches: int) -> float:
    """Claim due rows 500 at a time with SKIP LOCKED and mark them sent; return rows/s."""
    from django.db import connection, transaction

    started, done = time.perf_counter(), 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM leads_touch WHERE status = 'scheduled' AND channel IN "
                "('sms', 'email') AND due_at <= now() ORDER BY due_at LIMIT 500 "
                "FOR UPDATE SKIP LOCKED"
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            cursor.execute(
                "UPDATE leads_touch SET status = 'sent', sent_at = now() WHERE id = ANY(%s)",
                [ids],
            )
            done += len(ids)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:  # the same rows, due again, for Leadline
        cursor.execute(
            "UPDATE leads_touch SET status = 'scheduled', sent_at = NULL WHERE id IN "
            "(SELECT t.id FROM leads_touch t JOIN leads_lead l ON l.id = t.lead_id "
            "JOIN leads_leadsource s ON s.id = l.source_id WHERE s.name = %s)",
            [DISPATCH_SOURCE],
        )
        cursor.execute("VACUUM ANALYZE leads_touch")
    if done != touches:
        print(f"  (the bare loop claimed {done:,} of {touches:,})")
    return done / elapsed


def _dispatch(args, env: dict) -> None:
    from django.db.models import Count, Max

    from leads.cadences.outbound import due_touches_dispatch
    from leads.models import ContactAttempt, Touch, TouchStatus

    print(f"\nLoading {args.touches:,} due emails")
    source_id, lead_ids = _dispatch_load(args.touches)
    bare = _bare_claim_and_mark(args.touches)
    mine = Touch.objects.filter(lead__source_id=source_id)
    worker = _worker(env, args.worker_concurrency)
    try:
        warm_up = list(mine.values_list("pk", flat=True)[:20])
        mine.filter(pk__in=warm_up).update(
            due_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
        )
        due_touches_dispatch()  # the oldest: the warm-up rows
        _wait(lambda: mine.filter(pk__in=warm_up, status=TouchStatus.SENT).count() == 20, "warm-up")
        started = time.time()
        while due_touches_dispatch(seconds=1.0):
            pass
        dispatched_in = time.time() - started
        total = args.touches
        # Asked once a second, of the partial index the clock uses: the polling must not
        # take the database's time from the worker it measures.
        _wait(
            lambda: (
                not Touch.objects.filter(
                    lead_id__in=lead_ids,
                    status__in=[TouchStatus.SCHEDULED, TouchStatus.QUEUED, TouchStatus.SENDING],
                ).exists()
            ),
            "every touch sent",
            seconds=max(WAIT_SECONDS, total / 20),
            every=1.0,
        )
    finally:
        _stop(worker)
    measured = mine.exclude(pk__in=warm_up)
    last_sent = measured.aggregate(last=Max("sent_at"))["last"].timestamp()
    rate = measured.count() / (last_sent - started)
    attempts = ContactAttempt.objects.filter(lead_id__in=lead_ids).count()
    doubled = (
        measured.values("attempt").annotate(n=Count("pk")).filter(n__gt=1).count()
        + mine.filter(send_attempts__gt=1).count()
    )
    states = dict(mine.values_list("status").annotate(n=Count("pk")))
    print(
        f"Dispatch: {measured.count():,} due emails, dispatched by the clock's function in "
        f"{dispatched_in:.1f} s, sent by a Celery worker (concurrency {args.worker_concurrency})"
    )
    print(f"  leadline: {rate:,.0f} touches/s dispatched and handed to the backend")
    print(f"  bare claim-and-mark loop (baseline): {bare:,.0f} rows/s")
    print(
        f"  sent exactly once: {attempts:,} attempts for {total:,} touches, {doubled} sent "
        f"twice; statuses {states}"
    )


def _wait(condition, what: str, seconds: float = WAIT_SECONDS, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(every)


# ---------------------------------------------------------------------------------------------
# Speed to lead


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(port: int) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"the server on port {port} did not start")


def _lead_post(port: int, key: str, n: int, stamp: int) -> tuple[int, str, str, float]:
    """POST one lead; return its id, email, phone and when its 2xx answer was read."""
    # A new person each time: the exchange moves on with the run, the line with the lead.
    exchange = 200 + (stamp // 1000 + n // 10000) % 700
    email, phone = f"stl-{stamp}-{n}@example.com", f"(786) {exchange:03d}-{n % 10000:04d}"
    body = {
        "source_lead_id": f"stl-{stamp}-{n}",
        "first_name": "Rosa",
        "last_name": "Alvarez",
        "phone": phone,
        "email": email,
        "zip": "33130",
        "state": "FL",
        "product": "solar",
        "consent": {
            "captured_at": "2026-11-22T14:03:00Z",
            "ip": "10.1.2.3",
            "disclosure_text": f"I agree that {BUSINESS} may call, text and email me.",
            "sellers": [BUSINESS],
            "channels": ["call", "sms", "email"],
        },
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/leads/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        sys.exit(f"the intake answered {error.code}: {error.read()[:500]!r}")
    return answer["id"], email, answer.get("phone", ""), time.monotonic()


def _speed(args, env: dict) -> None:
    from django.db.models import Count
    from django.utils import timezone

    from compliance.gate import decide
    from leads.models import Cadence, CadenceStep, Lead, LeadSource, StepChannel, Touch
    from leads.sources import source_create
    from tests.fakes.smtp_server import SmtpServer
    from tests.fakes.twilio_server import FakeTwilio

    cadence, _ = Cadence.objects.get_or_create(name="Bench first touch")
    cadence.steps.all().delete()
    for position, channel in enumerate([StepChannel.EMAIL, StepChannel.SMS]):
        CadenceStep.objects.create(
            cadence=cadence,
            position=position,
            channel=channel,
            delay_minutes=0,
            delay_from="intake",
            subject_template="Your solar quote, {{ lead.first_name }}",
            body_template="Thanks for asking about solar. We will call you shortly.",
        )
    _bench_rows_delete(
        list(
            LeadSource.objects.filter(name__startswith=SPEED_SOURCE_PREFIX).values_list(
                "pk", flat=True
            )
        )
    )
    source, key = source_create(
        name=f"{SPEED_SOURCE_PREFIX} {time.time_ns()}", rate_limit_per_minute=10_000_000
    )
    LeadSource.objects.filter(pk=source.pk).update(accepted_products=[], cadence=cadence)
    stamp = time.time_ns() % 10**9
    with SmtpServer() as smtp, FakeTwilio("AC0000speedtolead", "bench-token") as twilio:
        env = {
            **env,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_USE_TLS": "0",
            "SMS_BACKEND": "crm.sms.TwilioBackend",
            "TWILIO_ACCOUNT_SID": "AC0000speedtolead",
            "TWILIO_AUTH_TOKEN": "bench-token",
            "TWILIO_FROM_NUMBER": "+13055550999",
            "TWILIO_API_BASE_URL": twilio.url,
            "CLOCK_TICK_SECONDS": "1",
        }
        worker = _worker(env, args.worker_concurrency)
        beat = _start(
            [str(BIN / "celery"), "-A", "crm", "beat", "--loglevel", "WARNING",
             "-s", str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-stl-beat")],
            env,
        )  # fmt: skip
        port = _free_port()
        web = _start(
            [str(BIN / "gunicorn"), "crm.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--log-level", "warning", "--preload"],
            env,
        )  # fmt: skip
        answers = []
        try:
            _wait_until_up(port)
            gap = 1 / args.rate
            for n in range(args.leads):
                started = time.monotonic()
                answers.append(_lead_post(port, key, n, stamp))
                time.sleep(max(0.0, gap - (time.monotonic() - started)))
            deadline = time.monotonic() + FIRST_TOUCH_WAIT_SECONDS
            while time.monotonic() < deadline and len(smtp.received) < len(answers):
                time.sleep(0.05)
        finally:
            for process in (web, beat, worker):
                _stop(process)
        arrived = {}
        with smtp.lock:
            for at, recipients, _ in smtp.received:
                for address in recipients:
                    arrived.setdefault(address, at)
        texted = {}
        with twilio.lock:
            for message in twilio.messages:
                texted.setdefault(message.to, message.taken_at)
    email_ms = [
        (arrived[email] - answered) * 1000 for _, email, _, answered in answers if email in arrived
    ]
    lead_ids = [lead_id for lead_id, *_ in answers]
    planned = dict(
        Touch.objects.filter(lead_id__in=lead_ids).values_list("lead_id").annotate(n=Count("pk"))
    )
    print(
        f"\nSpeed to lead: {len(answers)} leads posted at {args.rate:g}/s through gunicorn; "
        "a Celery worker and beat on Redis; a local SMTP server and Twilio-shaped server"
    )
    if email_ms:
        p50, p99 = _percentiles(email_ms)
        print(f"  first email: p50 {p50:.0f} ms, p99 {p99:.0f} ms ", end="")
    else:
        print("  first email: none arrived ", end="")
    print(f"({len(email_ms)} of {len(answers)} arrived within {FIRST_TOUCH_WAIT_SECONDS} s)")
    lead = Lead.objects.filter(pk__in=lead_ids).first()
    if lead is not None and decide(lead, "sms", timezone.now()).allowed:
        phones = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "phone"))
        sms_ms = []
        for lead_id, _, _, answered in answers:
            phone = str(phones.get(lead_id))
            if phone in texted:
                sms_ms.append((texted[phone] - answered) * 1000)
        if sms_ms:
            p50, p99 = _percentiles(sms_ms)
            print(f"  first text: p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(sms_ms)} arrived)")
        else:
            print("  first text: none arrived")
    else:
        print("  first text: calling hours do not allow texts to the leads' zone now")
    without = len([lead_id for lead_id in lead_ids if lead_id not in planned])
    print(f"  leads without a planned first touch: {without} of {len(lead_ids)}", end="")
    if without == len(lead_ids):
        print(" (the fast lane planned none: the source follows no active cadence?)")
    else:
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--touches", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10.0, help="Leads posted a second.")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["dispatch", "speed"])
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: seconds.")
    args = parser.parse_args()
    if args.quick:
        quick_database_default()
        vars(args).update(QUICK_SIZES)
    redis_url = os.environ.get("REDIS_URL") or (
        "redis://127.0.0.1:6379/14" if args.quick else "redis://127.0.0.1:6379/15"
    )
    extra = {
        "REDIS_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "SELLER_NAMES": BUSINESS,
        "BUSINESS_POSTAL_ADDRESS": "100 Biscayne Blvd, Miami, FL 33132",
        "SITE_URL": "https://crm.example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SMS_BACKEND": "crm.sms.ConsoleBackend",
        # The provider's limit is not what is measured here.
        "SMS_RATE_PER_SECOND": "0",
        "EMAIL_RATE_PER_SECOND": "0",
    }
    setup_django(**extra)
    import redis
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    env = server_env(**extra)
    redis.Redis.from_url(redis_url).flushdb()
    from leads.models import LeadSource

    # Earlier runs' touches (a text deferred to the morning, say) must not join this run's.
    _bench_rows_delete(
        list(
            LeadSource.objects.filter(name__startswith=SPEED_SOURCE_PREFIX).values_list(
                "pk", flat=True
            )
        )
    )
    print(f"Leadline sending-path benchmark, {os.cpu_count()} cores")
    try:
        if "dispatch" not in args.skip:
            _dispatch(args, env)
        if "speed" not in args.skip:
            _speed(args, env)
    finally:
        redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    main()
