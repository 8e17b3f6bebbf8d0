"""Measure lead intake under load, beside a bare baseline served the same way.

Usage: .venv/bin/python bench/intake.py [--seconds 15] [--rounds 3] [--workers 5]
           [--csv-rows 100000] [--fast-lane-leads 200] [--skip single batch csv fast-lane]
           [--quick]

Needs PostgreSQL (DATABASE_URL names the server; the benchmark uses its own database,
BENCH_DATABASE, default leadline_bench), Redis (REDIS_URL, default redis://127.0.0.1:6379/15,
or /14 with --quick: the rate limiter and the Celery broker, as in production; the benchmark
empties that Redis database when it ends), gunicorn, Celery and wrk (Debian package `wrk`).
--quick runs every phase at tiny sizes (a second per run, one round, a 500-row CSV) in
leadline_bench_quick unless BENCH_DATABASE names another: seconds, to show it still runs.
Prints:
- single-lead POSTs at 8 and 32 connections: requests/s, p50 and p99 latency, and whether
  every lead answered 2xx is stored, once (lost, doubled), for Leadline and a bare
  Django view that parses the same JSON, validates the phone and inserts one row. Both
  servers are warmed up first, then take turns for --rounds runs each; the ratio compares
  the medians, since a shared 2-core machine drifts by a fifth from one run to the next;
- the batch endpoint: leads/s with 1,000 leads per request, in --rounds runs and their
  median;
- a CSV import of --csv-rows rows: seconds and peak memory of the RQ worker that runs it,
  beside a bare loop that parses the same file, validates phones and inserts rows in batches;
- the fast lane: --fast-lane-leads leads posted one at a time, each timed from the moment
  its 2xx answer reached the client to the moment a Celery worker (on Redis) had scored it
  and written its history (`Lead.processed_at`): p50 and p99.
"""

import argparse
import csv
import datetime
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from graphlib import TopologicalSorter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, quick_database_default, server_env, setup_django

LEADLINE_PORT = 8801
BASELINE_PORT = 8802
# The leads of this benchmark's own runs, which it deletes before and after each run.
BENCH_SOURCE_PREFIX = "Bench intake vendor"
# Tiny sizes that run every phase in seconds: enough to show the benchmark still works.
QUICK_SIZES = {
    "seconds": 1,
    "warm_up": 1,
    "rounds": 1,
    "workers": 2,
    "batches": 2,
    "csv_rows": 500,
    "background_leads": 2_000,
    "fast_lane_leads": 20,
}
# Leads posted before the fast lane's figures count: the worker is up and has connected.
FAST_LANE_WARM_UP_LEADS = 5
FAST_LANE_WAIT_SECONDS = 60
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _wait_until_up(port: int) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # the baseline has no /healthz: a 404 means it is serving
        except OSError:
            time.sleep(0.2)
    sys.exit(f"the server on port {port} did not start")


def _gunicorn(app: str, port: int, workers: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--preload",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    _wait_until_up(port)
    return process


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


class NewPhones:
    """Phone numbers of one area code that no earlier lead of these benchmarks has.

    A real vendor sends new people: were the phones of one run to repeat an earlier run's,
    every lead after the first run would be stored as a duplicate and flagged as a repeat.
    The area code's 8,000,000 numbers are handed out in order, in blocks, after the block of
    the last lead stored with it (wrapping round once all are used).
    """

    COUNT = 8_000_000
    BLOCK = 200_000  # one wrk run: 2 threads of 100,000 (lead_post.lua)

    def __init__(self, area_code: str):
        from django.db import connection

        self.area_code = area_code
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT phone FROM leads_lead WHERE phone LIKE %s ORDER BY id DESC LIMIT 1",
                [f"+1{area_code}%"],
            )
            last = cursor.fetchone()
        self.next = (self.number(last[0]) // self.BLOCK + 1) * self.BLOCK if last else 0

    def take(self, count: int) -> int:
        """Reserve `count` numbers (whole blocks); return the first."""
        first = self.next % self.COUNT
        self.next += -(-count // self.BLOCK) * self.BLOCK
        return first

    def phone(self, number: int) -> str:
        number %= self.COUNT
        return f"+1{self.area_code}{200 + number // 10000:03d}{number % 10000:04d}"

    @staticmethod
    def number(phone: str) -> int:
        return (int(phone[5:8]) - 200) * 10000 + int(phone[8:])


def _wrk(port: int, connections: int, seconds: int, phones: NewPhones, key: str = "") -> dict:
    """Run wrk; return its figures and the ids of the leads it was answered 2xx for."""
    first_phone = phones.take(NewPhones.BLOCK)
    with tempfile.NamedTemporaryFile("r", suffix=".ids") as ids_file:
        output = subprocess.run(
            [
                "wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
                "-s", str(ROOT / "bench" / "lead_post.lua"),
                f"http://127.0.0.1:{port}/api/v1/leads/",
                "--", f"c{connections}", ids_file.name, str(first_phone),
                *([key] if key else []),
            ],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        ids = [int(line) for line in ids_file.read().split()]
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "ok": requests - failed,
        "failed": failed,
        "ids": ids,
    }


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group()), re.sub(r"[\d.]+", "", text)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def _count(sql: str, params=()) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _single_lead(args, source, key: str, env: dict) -> None:
    from django.db import connection

    from bench.baseline.app import TABLE_SQL

    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)
    phones = NewPhones("305")  # the area code lead_post.lua dials
    leadline = _gunicorn("crm.wsgi", LEADLINE_PORT, args.workers, env)
    baseline = _gunicorn("bench.baseline.wsgi", BASELINE_PORT, args.workers, env)
    servers = {
        "baseline": (BASELINE_PORT, "", "bench_baseline_lead"),
        "leadline": (LEADLINE_PORT, key, "leads_lead"),
    }
    print(
        f"\nSingle-lead POST, {args.seconds} s per run, gunicorn --workers {args.workers}; "
        f"{args.rounds} rounds, the servers taking turns, after a {args.warm_up} s warm-up"
    )
    print(f"{'server':<10} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'2xx':>7} "
          f"{'failed':>6} {'lost':>5} {'doubled':>7}")  # fmt: skip
    try:
        for port, auth, _ in servers.values():  # connections opened, statements prepared
            _wrk(port, 8, args.warm_up, phones, auth)
        for connections in (8, 32):
            runs = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, (port, auth, table) in servers.items():
                    result = _wrk(port, connections, args.seconds, phones, auth)
                    ids = result["ids"]
                    stored = _count(f"SELECT count(*) FROM {table} WHERE id = ANY(%s)", [ids])
                    runs[name].append(result)
                    print(
                        f"{name:<10} {connections:>5} {result['rps']:>9.0f} "
                        f"{result['p50']:>8.1f} {result['p99']:>8.1f} {result['ok']:>7} "
                        f"{result['failed']:>6} {len(set(ids)) - stored:>5} "
                        f"{len(ids) - len(set(ids)):>7}"
                    )
            medians = {
                name: {f: statistics.median(r[f] for r in results) for f in ("rps", "p99")}
                for name, results in runs.items()
            }
            ratio = medians["leadline"]["rps"] / medians["baseline"]["rps"]
            print(
                f"{'median':<10} {connections:>5} leadline {medians['leadline']['rps']:.0f} req/s "
                f"(p99 {medians['leadline']['p99']:.1f} ms), baseline "
                f"{medians['baseline']['rps']:.0f} req/s: leadline/baseline = {ratio:.2f}x"
            )
    finally:
        _stop(leadline)
        _stop(baseline)


def _batch_bodies(count: int, phones: NewPhones) -> list[bytes]:
    stamp = time.time_ns()
    first = phones.take(count * 1000)
    return [
        json.dumps(
            {
                "leads": [
                    {
                        "source_lead_id": f"batch-{stamp}-{batch}-{n}",
                        "first_name": "Ana",
                        "last_name": "Lee",
                        "phone": phones.phone(first + batch * 1000 + n),
                        "email": f"ana{batch}-{n}-{stamp}@example.com",
                        "zip": "77002",
                        "product": "solar",
                        "consent": {
                            "captured_at": "2026-11-22T14:03:00Z",
                            "disclosure_text": "I agree.",
                            "sellers": ["Brightside Home Services"],
                            "channels": ["call"],
                        },
                    }
                    for n in range(1000)
                ]
            }
        ).encode()
        for batch in range(count)
    ]


def _batch_run(bodies: list[bytes], key: str) -> tuple[int, float]:
    """Post the bodies, two at a time; return the leads stored and the seconds it took."""
    results = []

    def send(chunk):
        for body in chunk:
            request = urllib.request.Request(
                f"http://127.0.0.1:{LEADLINE_PORT}/api/v1/leads/batch/",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                results.append(json.load(response))

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(bodies[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(r["accepted"] + r["duplicates"] for r in results), elapsed


def _batch(args, key: str, env: dict) -> None:
    leadline = _gunicorn("crm.wsgi", LEADLINE_PORT, args.workers, env)
    print(
        f"\nBatch endpoint: {args.batches} requests of 1,000 leads, 2 at a time, "
        f"{args.rounds} rounds after a warm-up"
    )
    rates = []
    try:
        phones = NewPhones("713")
        _batch_run(_batch_bodies(2, phones), key)
        for _ in range(args.rounds):
            stored, elapsed = _batch_run(_batch_bodies(args.batches, phones), key)
            rates.append(stored / elapsed)
            print(f"  {stored:,} leads stored in {elapsed:.1f} s = {rates[-1]:,.0f} leads/s")
    finally:
        _stop(leadline)
    print(f"  median {statistics.median(rates):,.0f} leads/s")


def _csv_file(rows: int, directory: Path, phones: NewPhones) -> Path:
    path = directory / "leads.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Lead ID", "First Name", "Last Name", "Phone", "Email", "ZIP", "Product"])
        stamp = time.time_ns()
        first = phones.take(rows)
        for n in range(rows):
            phone = phones.phone(first + n)
            writer.writerow(
                [f"csv-{stamp}-{n}", "Ann", "Lee", phone, f"a{stamp}{n}@x.com", "75201", "solar"]
            )
    return path


BASELINE_CSV = """
import csv, sys, json, phonenumbers, psycopg
rows = []
with psycopg.connect(sys.argv[2]) as conn, open(sys.argv[1], newline="") as handle:
    reader = csv.reader(handle); next(reader)
    def flush():
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_baseline_lead (source_lead_id, phone, body) "
                            "VALUES (%s, %s, %s)", rows)
        conn.commit(); rows.clear()
    for row in reader:
        number = phonenumbers.parse(row[3], "US")
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            rows.append((row[0], e164, json.dumps(row)))
        if len(rows) == 1000: flush()
    flush()
"""


def _timed_child(command: list[str], env: dict) -> tuple[float, float]:
    """Run a command; return its seconds and its peak memory in MB."""
    runner = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([PYTHON, "-c", runner, *command], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    seconds, megabytes = out.split()
    return float(seconds), float(megabytes)


def _csv_import(args, source, env: dict) -> None:
    directory = Path(tempfile.mkdtemp(prefix="leadline-bench-"))
    try:
        path = _csv_file(args.csv_rows, directory, NewPhones("214"))
        # As in production: the command queues the job, an RQ worker runs it and hands the
        # new leads to the fast lane (Celery, not running here). The figures are the worker's.
        job_env = {**env, "MEDIA_ROOT": str(directory / "media")}
        subprocess.run(
            [PYTHON, "manage.py", "import_leads", str(path), "--source", source.slug, "--no-wait"],
            env=job_env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        seconds, megabytes = _timed_child(
            [PYTHON, "manage.py", "rqworker", "imports", "--burst"], job_env
        )
        base_seconds, base_megabytes = _timed_child(
            [PYTHON, "-c", BASELINE_CSV, str(path), env["DATABASE_URL"]], env
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nCSV import of {args.csv_rows:,} rows")
    print(f"  leadline: {seconds:6.1f} s, peak memory {megabytes:6.0f} MB")
    print(f"  baseline: {base_seconds:6.1f} s, peak memory {base_megabytes:6.0f} MB")


def _lead_post(key: str, phone: str, source_lead_id: str) -> tuple[int, float]:
    """POST one lead; return its id and the wall-clock time its 2xx answer was read."""
    body = {
        "source_lead_id": source_lead_id,
        "first_name": "Rosa",
        "last_name": "Alvarez",
        "phone": phone,
        "email": f"{source_lead_id}@example.com",
        "zip": "33130",
        "state": "FL",
        "product": "solar",
        "consent": {
            "captured_at": "2026-11-22T14:03:00Z",
            "ip": "10.1.2.3",
            "disclosure_text": "I agree that Brightside Home Services may call and text me.",
            "sellers": ["Brightside Home Services"],
            "channels": ["call", "sms"],
        },
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{LEADLINE_PORT}/api/v1/leads/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    return answer["id"], time.time()


def _processed_wait(lead_ids: list[int]) -> dict[int, datetime.datetime]:
    """Wait until the fast lane has processed these leads, or FAST_LANE_WAIT_SECONDS pass;
    return the processed_at of those it has."""
    from leads.models import Lead

    deadline = time.monotonic() + FAST_LANE_WAIT_SECONDS
    while True:
        processed = dict(
            Lead.objects.filter(pk__in=lead_ids, processed_at__isnull=False).values_list(
                "pk", "processed_at"
            )
        )
        if len(processed) == len(lead_ids) or time.monotonic() > deadline:
            return processed
        time.sleep(0.05)


def _fast_lane(args, key: str, env: dict, redis_url: str) -> None:
    """Time each lead from its 2xx answer, as the client read it, to `Lead.processed_at`,
    which the fast lane sets in the transaction that scores the lead and writes its history."""
    import redis

    # The earlier phases' hand-offs, which no worker was there to take.
    redis.Redis.from_url(redis_url).flushdb()
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "crm", "worker", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL,  # its banner; warnings and errors still show
    )  # fmt: skip
    phones, stamp = NewPhones("786"), time.time_ns()
    first = phones.take(FAST_LANE_WARM_UP_LEADS + args.fast_lane_leads)
    try:
        leadline = _gunicorn("crm.wsgi", LEADLINE_PORT, args.workers, env)
        try:
            warm_up = [
                _lead_post(key, phones.phone(first + n), f"fast-lane-{stamp}-warm-{n}")[0]
                for n in range(FAST_LANE_WARM_UP_LEADS)
            ]
            if len(_processed_wait(warm_up)) < len(warm_up):
                sys.exit(f"the Celery worker processed nothing in {FAST_LANE_WAIT_SECONDS} s")
            answers = []
            # Paced, as leads arrive from sources: back to back, the posts outrun one worker
            # and the figure measures its queue, not the time a lead waits for the fast lane.
            gap = 1 / args.fast_lane_rate
            for n in range(FAST_LANE_WARM_UP_LEADS, FAST_LANE_WARM_UP_LEADS + args.fast_lane_leads):
                started = time.monotonic()
                answers.append(_lead_post(key, phones.phone(first + n), f"fast-lane-{stamp}-{n}"))
                time.sleep(max(0.0, gap - (time.monotonic() - started)))
            processed = _processed_wait([lead_id for lead_id, _ in answers])
        finally:
            _stop(leadline)
    finally:
        _stop(worker)
    latencies = [
        (processed[lead_id].timestamp() - answered_at) * 1000
        for lead_id, answered_at in answers
        if lead_id in processed
    ]
    print(
        f"\nFast lane: {args.fast_lane_leads} leads posted one at a time, {args.fast_lane_rate:g}"
        " a second, a Celery worker on "
        "Redis; from the intake's 2xx (as the client read it) to the lead scored and its "
        "history written (processed_at)"
    )
    if latencies:
        p50, p99 = _percentiles(latencies)
        print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms", end="")
    print(
        f"  ({len(latencies)} processed, {len(answers) - len(latencies)} not within "
        f"{FAST_LANE_WAIT_SECONDS} s)"
    )


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=100, method="inclusive")[98]


BACKGROUND_SOURCE = "Bench background"


def _background_leads(count: int) -> None:
    """Give the benchmark database the leads of a CRM in use, once: `count` leads of their
    own source, which the benchmarks insert beside and never delete.

    The statistics PostgreSQL plans intake's prepared insert with then describe a table in
    use: planned against an empty, analysed table, its duplicate lookups read the whole
    table for every lead (in production autovacuum re-analyses as the table grows; on a
    server without autovacuum, like the CI machines, nothing would)."""
    from django.utils import timezone

    from leads.intake.payload import payload_clean
    from leads.intake.storage import leads_insert
    from leads.models import Lead, LeadSource
    from leads.sources import source_create

    source = LeadSource.objects.filter(name=BACKGROUND_SOURCE).first()
    if source is None:
        source, _ = source_create(name=BACKGROUND_SOURCE)
    missing = count - Lead.objects.filter(source=source).count()
    if missing <= 0:
        return
    print(f"Storing {missing:,} background leads (once per benchmark database)")
    phones, stamp = NewPhones("212"), time.time_ns()
    first = phones.take(missing)
    for start in range(0, missing, 1000):
        cleans = [
            payload_clean(
                raw={
                    "source_lead_id": f"background-{stamp}-{n}",
                    "first_name": "Lee",
                    "last_name": "Park",
                    "phone": phones.phone(first + n),
                    "email": f"lee{stamp}-{n}@example.com",
                    "zip": "10001",
                    "consent": {
                        "captured_at": "2026-11-01T10:00:00Z",
                        "ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                        "channels": ["call", "sms"],
                    },
                },
                source=source,
            )[0]
            for n in range(start, min(start + 1000, missing))
        ]
        now = timezone.now()
        leads_insert(
            source=source,
            leads=cleans,
            received_at=now,
            duplicates_since=now - datetime.timedelta(days=30),
            capture_method="api",
        )


def _bench_leads_delete() -> None:
    """Delete the leads of every intake benchmark, and the baseline's rows, so that each run
    inserts into tables of the same size: with PostgreSQL's default 128 MB of shared
    buffers, a leads table grown by earlier runs makes each insert slower than the last.
    Then VACUUM ANALYZE, for the space and the statistics (see _background_leads)."""
    from django.db import connection

    from bench.baseline.app import TABLE_SQL
    from leads.models import Lead

    bench_leads = (
        "SELECT id FROM leads_lead WHERE source_id IN "
        f"(SELECT id FROM leads_leadsource WHERE name LIKE '{BENCH_SOURCE_PREFIX} %%')"
    )
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)
        # Other leads refer to them only as their duplicates: those are kept.
        cursor.execute(
            f"UPDATE leads_lead SET duplicate_of_id = NULL WHERE duplicate_of_id IN ({bench_leads})"
        )
        for table, column in _tables_referring_to_leads():
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({bench_leads})")
        cursor.execute(
            f"DELETE FROM {Lead.history.model._meta.db_table} WHERE id IN ({bench_leads})"
        )
        cursor.execute(f"DELETE FROM leads_lead WHERE id IN ({bench_leads})")
        cursor.execute("TRUNCATE bench_baseline_lead")
        cursor.execute("VACUUM ANALYZE leads_lead, compliance_consentrecord, bench_baseline_lead")


def _tables_referring_to_leads() -> list[tuple[str, str]]:
    """Return (table, column) for every other model's reference to a lead, read from the
    models (consents, the fast lane's history rows, and whatever later stages add), each
    table before the tables it refers to, so its rows can be deleted first."""
    from leads.models import Lead

    references = [
        relation.field
        for relation in Lead._meta.get_fields(include_hidden=True)
        if relation.auto_created
        and not relation.concrete
        and relation.related_model not in (Lead, Lead.history.model)
    ]
    models = {field.model for field in references}
    order = TopologicalSorter()
    for model in models:
        order.add(model)
        for model_field in model._meta.concrete_fields:
            if model_field.is_relation and model_field.related_model in models - {model}:
                order.add(model_field.related_model, model)  # `model`'s rows go first
    rank = {model: n for n, model in enumerate(order.static_order())}
    references.sort(key=lambda field: rank[field.model])
    return [(field.model._meta.db_table, field.column) for field in references]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warm-up", type=int, default=3, help="Seconds of wrk per server.")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--background-leads", type=int, default=50_000)
    parser.add_argument("--fast-lane-leads", type=int, default=200)
    parser.add_argument(
        "--fast-lane-rate", type=float, default=20.0, help="Leads a second in the fast-lane phase."
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["single", "batch", "csv", "fast-lane"]
    )
    parser.add_argument(
        "--quick", action="store_true", help="Tiny sizes in a database of their own: seconds."
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/intake.py needs wrk: apt-get install wrk")
    if args.quick:
        quick_database_default()
        vars(args).update(QUICK_SIZES)
    quick_redis = "redis://127.0.0.1:6379/14"  # never the Redis database of a full run
    redis_url = os.environ.get("REDIS_URL") or (
        quick_redis if args.quick else "redis://127.0.0.1:6379/15"
    )
    setup_django(REDIS_URL=redis_url)
    from django.core.management import call_command

    from leads.models import LeadSource
    from leads.sources import source_create

    call_command("migrate", verbosity=0)
    _background_leads(args.background_leads)
    _bench_leads_delete()  # those of an earlier run that stopped half-way
    source, key = source_create(
        name=f"{BENCH_SOURCE_PREFIX} {time.time_ns()}", rate_limit_per_minute=10_000_000
    )
    LeadSource.objects.filter(pk=source.pk).update(accepted_products=[])
    env = server_env(REDIS_URL=redis_url)
    print(f"Leadline intake benchmark, {os.cpu_count()} cores, source {source.slug}")
    try:
        if "single" not in args.skip:
            _single_lead(args, source, key, env)
        if "batch" not in args.skip:
            _batch(args, key, env)
        if "csv" not in args.skip:
            _csv_import(args, source, env)
        if "fast-lane" not in args.skip:
            _fast_lane(args, key, env, redis_url)
    finally:
        _bench_leads_delete()
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the fast-lane tasks nobody consumed
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\n(peak memory of this driver: {driver_mb} MB)")


if __name__ == "__main__":
    main()
