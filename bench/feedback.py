"""Time the feedback export through the API and the managers' dashboard, each beside its bare
query.

Usage: .venv/bin/python bench/feedback.py [--leads 1000000] [--attempts-per-lead 3]
           [--page-runs 5] [--quick]

Needs PostgreSQL: DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test);
the benchmark uses its own database there, BENCH_DATABASE (default leadline_bench_feedback;
leadline_bench_feedback_quick with --quick: 20,000 leads, figures that mean nothing).

Loads once per size (INSERT ... SELECT generate_series): --leads leads of one source received
over October 2026 (three campaigns, exclusive and shared, owned by 20 reps), their
conversions (80% contacted, 25% an appointment, 10% a sale with revenue), returns of the other
20% (so every lead has feedback), a feedback event per conversion and return, and
--attempts-per-lead calls each; plus 1% as many leads of a second source, which the export
must never show.

Then:
- the export of the month's feedback through gunicorn (GET /api/v1/feedback/, real HTTP,
  CSV, streamed): seconds, rows, MB, and the peak memory of the worker that served it
  (VmHWM, beside its VmRSS before the request), beside a bare `COPY (the export's query) TO
  STDOUT` of the same rows;
- the rollup rebuild of the month (rollups_rebuild over its 31 days);
- the dashboard for the month (GET /admin/dashboard/?period=month, in-process, median of
  --page-runs), beside the bare aggregate over the rollups it reads and beside the
  aggregate over the leads and conversions that the rollups spare each page view.
- then (not with --quick, whose run of it is its own) the webhook delivery benchmark,
  bench/feedback_webhooks.py, in a process and a database of its own: events delivered per
  second to a local receiver beside a bare posting loop.
Targets: export under 20 s and 150 MB; dashboard under 1 s; webhooks at least 300 events/s.
"""

import argparse
import datetime
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, insert_select_parts, server_env, setup_django

DEFAULT_DATABASE = "leadline_bench_feedback"
QUICK_DATABASE = "leadline_bench_feedback_quick"
PORT = 8351
UTC = datetime.UTC
MONTH_START = datetime.datetime(2026, 10, 1, tzinfo=UTC)
MONTH_DAYS = 31
REPS = 20
SOURCE_SLUG = "bench-feedback"
OTHER_SLUG = "bench-feedback-other"
DATASET_VERSION = "v2"


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--attempts-per-lead", type=int, default=3)
    parser.add_argument("--page-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.leads, args.page_runs = 20_000, 2
        os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or QUICK_DATABASE
    else:
        os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or DEFAULT_DATABASE
    return args


# ---------------------------------------------------------------------------------------------
# The data set, loaded once per size.


def _marker(args) -> str:
    return f"{DATASET_VERSION}:{args.leads}:{args.attempts_per_lead}"


def _load(args) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from leads.models import (
        ContactAttempt,
        Conversion,
        FeedbackEvent,
        Lead,
        LeadReturn,
        LeadSource,
        RepProfile,
    )
    from leads.sources import source_create

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_feedback_loaded (marker text)")
        cursor.execute("SELECT marker FROM bench_feedback_loaded")
        if cursor.fetchone() == (_marker(args),):
            print(f"Reusing the loaded data set ({args.leads:,} leads).")
            return
        cursor.execute("DELETE FROM bench_feedback_loaded")
    source = LeadSource.objects.filter(slug=SOURCE_SLUG).first()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (FeedbackEvent, LeadReturn, Conversion, ContactAttempt):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
        cursor.execute("TRUNCATE leads_lead, leads_historicallead CASCADE")
    source = source or source_create(name="Bench feedback vendor", slug=SOURCE_SLUG)[0]
    other = (
        LeadSource.objects.filter(slug=OTHER_SLUG).first()
        or source_create(name="Bench feedback other vendor", slug=OTHER_SLUG)[0]
    )
    users = get_user_model().objects
    reps = []
    for n in range(REPS):
        user, _ = users.get_or_create(username=f"bench-feedback-rep-{n:02d}")
        RepProfile.objects.get_or_create(user=user)
        reps.append(user.pk)
    seconds = MONTH_DAYS * 86400
    with transaction.atomic(), connection.cursor() as cursor:
        for source_id, count, prefix in (
            (source.pk, args.leads, "BF"),
            (other.pk, max(args.leads // 100, 10), "BO"),
        ):
            # Spread over the month: 7919 is prime to the month's seconds.
            offset = f"((g::bigint * 7919) %% {seconds})"
            received = f"(%(start)s::timestamptz + {offset} * interval '1 second')"
            varying = {
                "source_id": str(source_id),
                "source_lead_id": f"'{prefix}-' || g",
                "received_at": received,
                "phone": f"'+1' || (2000000000 + g + {0 if prefix == 'BF' else 5000000})::text",
                "campaign": "(ARRAY['', 'spring-solar', 'retargeting'])[1 + g %% 3]",
                "is_exclusive": "(g %% 5 < 3)",
                "cost": "25.00",
                "status": "(ARRAY['working', 'contacted', 'won', 'lost'])[1 + g %% 4]",
                "owner_id": f"(%(reps)s::int[])[1 + g %% {REPS}]",
                "first_attempt_at": f"CASE WHEN g %% 10 < 9 THEN {received} "
                "+ ((g %% 47) * interval '1 minute') END",
                "first_contact_at": f"CASE WHEN g %% 20 < 16 THEN {received} "
                "+ ((g %% 47 + 5) * interval '1 minute') END",
                "processed_at": received,
                "created_at": received,
                "updated_at": received,
            }
            columns, values, defaults = insert_select_parts(connection, Lead, varying)
            cursor.execute(
                f"INSERT INTO leads_lead ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM generate_series(1, %(count)s) AS g",
                {**defaults, "start": MONTH_START, "reps": reps, "count": count},
            )
        # Conversions: contacted (80%), an appointment (25%), a sale (10%); every lead has
        # feedback (the rest are returned), so the export's rows are the month's leads.
        for kind, share, hours in (("contacted", 16, 1), ("appointment", 5, 24), ("sale", 2, 72)):
            varying = {
                "lead_id": "l.id",
                "kind": f"'{kind}'",
                "revenue": "(500 + l.id %% 5000)::numeric" if kind == "sale" else "NULL",
                "occurred_at": f"l.received_at + interval '{hours} hours'",
                "origin": "'rep'",
                "created_at": "l.received_at",
            }
            columns, values, defaults = insert_select_parts(connection, Conversion, varying)
            cursor.execute(
                f"INSERT INTO leads_conversion ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM leads_lead l WHERE l.id %% 20 < %(share)s",
                {**defaults, "share": share},
            )
        varying = {
            "lead_id": "l.id",
            "source_id": "l.source_id",
            "reason": "'bad_number'",
            "status": "(ARRAY['requested', 'accepted', 'rejected'])[1 + l.id %% 3]",
            "credit": "l.cost",
            "origin": "'rep'",
            "requested_at": "l.received_at + interval '2 days'",
        }
        columns, values, defaults = insert_select_parts(connection, LeadReturn, varying)
        cursor.execute(
            f"INSERT INTO leads_leadreturn ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM leads_lead l WHERE l.id %% 20 >= 16",
            defaults,
        )
        for table, link, at, type_sql in (
            (
                "leads_conversion",
                "conversion_id",
                "x.occurred_at",
                "CASE x.kind WHEN 'contacted' THEN 'lead.contacted' "
                "WHEN 'appointment' THEN 'lead.appointment' ELSE 'lead.sold' END",
            ),
            ("leads_leadreturn", "lead_return_id", "x.requested_at", "'lead.returned'"),
        ):
            varying = {
                "source_id": "l.source_id",
                "lead_id": "l.id",
                "type": type_sql,
                "occurred_at": at,
                "payload": "'{}'::jsonb",
                link: "x.id",
                "status": "'not_sent'",
                "created_at": at,
            }
            columns, values, defaults = insert_select_parts(connection, FeedbackEvent, varying)
            cursor.execute(
                f"INSERT INTO leads_feedbackevent ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM {table} x JOIN leads_lead l ON l.id = x.lead_id",
                defaults,
            )
        varying = {
            "lead_id": "l.id",
            "channel": "'call'",
            "direction": "'outbound'",
            "rep_id": "l.owner_id",
            "started_at": "l.received_at + n * interval '1 hour'",
            "disposition": "'no_answer'",
            "created_at": "l.received_at",
        }
        columns, values, defaults = insert_select_parts(connection, ContactAttempt, varying)
        cursor.execute(
            f"INSERT INTO leads_contactattempt ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM leads_lead l, generate_series(1, %(per)s) AS n",
            {**defaults, "per": args.attempts_per_lead},
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_feedback_loaded VALUES (%s)", [_marker(args)])
    counts = {
        "leads": Lead.objects.count(),
        "attempts": ContactAttempt.objects.count(),
        "conversions": Conversion.objects.count(),
        "events": FeedbackEvent.objects.count(),
    }
    print(
        f"Loaded in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{count:,} {name}" for name, count in counts.items())
    )


# ---------------------------------------------------------------------------------------------
# The export through gunicorn, beside COPY.


def _gunicorn(env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "crm.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "1", "--timeout", "300", "--log-level", "warning", "--preload"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    for _ in range(150):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    sys.exit("gunicorn did not start")


def _worker_pid(master: int) -> int:
    for _ in range(50):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    sys.exit("gunicorn started no worker")


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _export_over_http(key: str) -> tuple[float, int, int]:
    """GET the month's export; return seconds, rows and bytes, reading as it streams."""
    since = MONTH_START.isoformat().replace("+00:00", "Z")
    until = (MONTH_START + datetime.timedelta(days=MONTH_DAYS + 10)).isoformat()
    path = f"/api/v1/feedback/?since={since}&until={until.replace('+00:00', 'Z')}&format=csv"
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    if response.status != 200:
        sys.exit(f"the export answered {response.status}: {response.read()[:500]!r}")
    size = lines = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, lines - 1, size


def _export_copy(source) -> tuple[float, int, int]:
    """COPY the export's own query TO STDOUT: the rows with nothing of Django's."""
    from django.db import connection

    from leads.feedback.exports import feedback_rows_query

    until = MONTH_START + datetime.timedelta(days=MONTH_DAYS + 10)
    sql, params = feedback_rows_query(
        source=source, since=MONTH_START, until=until
    ).query.sql_with_params()
    started = time.perf_counter()
    size = lines = 0
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for block in copy:
                size += len(block)
                lines += bytes(block).count(b"\n")
    return time.perf_counter() - started, lines, size


def _export_benchmark(args) -> None:
    from leads.models import LeadSource
    from leads.sources import source_key_rotate

    source = LeadSource.objects.get(slug=SOURCE_SLUG)
    key = source_key_rotate(source=source)
    env = server_env(REDIS_URL="", FEEDBACK_STREAM_MAX_ROWS=str(10 * args.leads + 1000))
    server = _gunicorn(env)
    try:
        worker = _worker_pid(server.pid)
        before = _memory_kb(worker, "VmRSS")
        seconds, rows, size = _export_over_http(key)
        peak = _memory_kb(worker, "VmHWM")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    copy_seconds, copy_rows, copy_size = _export_copy(source)
    print(f"Feedback export of {rows:,} leads (one source's month, CSV):")
    print(
        f"  API over HTTP (gunicorn, streamed): {seconds:6.2f} s, {rows / seconds:,.0f} rows/s, "
        f"{size / 1e6:,.1f} MB; worker peak memory {peak / 1024:,.0f} MB "
        f"({before / 1024:,.0f} MB before the request)"
    )
    print(
        f"  bare COPY (same query) TO STDOUT (baseline): {copy_seconds:6.2f} s, "
        f"{copy_rows:,} rows, {copy_size / 1e6:,.1f} MB"
    )
    print(f"  api/copy = {seconds / copy_seconds:.1f}x; target: under 20 s and 150 MB")
    if rows != copy_rows:
        sys.exit(f"the API sent {rows:,} rows, COPY {copy_rows:,}")


# ---------------------------------------------------------------------------------------------
# The dashboard, beside the bare aggregates.


def _timed(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _dashboard_benchmark(args) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from crm.roles import MANAGER
    from leads.feedback.rollups import rollups_rebuild
    from leads.models import ContactAttempt

    days = [MONTH_START.date() + datetime.timedelta(days=n) for n in range(MONTH_DAYS)]
    started = time.perf_counter()
    rows = rollups_rebuild(days=days)
    rebuild = time.perf_counter() - started
    manager, _ = get_user_model().objects.get_or_create(
        username="bench-feedback-manager", defaults={"is_staff": True}
    )
    manager.groups.add(Group.objects.get(name=MANAGER))
    client = Client()
    client.force_login(manager)
    url = f"/admin/dashboard/?period=month&date={MONTH_START.date().isoformat()}"

    def page():
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    page()  # warm
    page_seconds = _timed(page, args.page_runs)

    def bare_rollups():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT source_id, campaign, is_exclusive, sum(leads), sum(spend), sum(credits), "
                "sum(contacted), sum(appointments), sum(sales), sum(revenue) "
                "FROM leads_sourcedayrollup WHERE day BETWEEN %s AND %s "
                "GROUP BY source_id, campaign, is_exclusive",
                [days[0], days[-1]],
            )
            cursor.fetchall()

    def bare_leads():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT l.source_id, l.campaign, l.is_exclusive, count(DISTINCT l.id), "
                "sum(c.revenue), count(DISTINCT c.lead_id) "
                "FROM leads_lead l LEFT JOIN leads_conversion c ON c.lead_id = l.id "
                "WHERE l.received_at >= %s AND l.received_at < %s "
                "GROUP BY l.source_id, l.campaign, l.is_exclusive",
                [MONTH_START, MONTH_START + datetime.timedelta(days=MONTH_DAYS)],
            )
            cursor.fetchall()

    rollup_seconds = _timed(bare_rollups, args.page_runs)
    leads_seconds = _timed(bare_leads, max(1, args.page_runs // 2))
    attempts = ContactAttempt.objects.count()
    print(f"Dashboard for a month of {args.leads:,} leads and {attempts:,} attempts:")
    print(f"  rollup rebuild of {MONTH_DAYS} days: {rebuild:6.2f} s ({rows:,} rows)")
    print(f"  dashboard page (median of {args.page_runs}): {page_seconds * 1000:8.1f} ms")
    print(f"  bare aggregate over the rollups (baseline): {rollup_seconds * 1000:8.1f} ms")
    print(
        f"  bare aggregate over the leads and conversions (what rollups spare a page view): "
        f"{leads_seconds * 1000:8.1f} ms"
    )
    print("  target: page under 1 s")


def main() -> None:
    args = _arguments()
    setup_django(REDIS_URL="")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"Feedback benchmark, {args.leads:,} leads{' (quick)' if args.quick else ''}")
    _load(args)
    _export_benchmark(args)
    _dashboard_benchmark(args)
    if not args.quick:
        _webhooks_benchmark()


def _webhooks_benchmark() -> None:
    """Run bench/feedback_webhooks.py: its own database, never this one's (it empties it)."""
    env = {key: value for key, value in os.environ.items() if key != "BENCH_DATABASE"}
    script = Path(__file__).with_name("feedback_webhooks.py")
    subprocess.run([sys.executable, str(script)], env=env, check=True)


if __name__ == "__main__":
    main()
