"""Each benchmark still runs: its --quick mode, against the real services, prints its figures.

Timings are the benchmarks' business, never asserted here; a model or setting change that
breaks a benchmark fails this instead of rotting until someone runs it at full size.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
# A database and a Redis database of their own: a quick run never touches a full run's data
# (nor the test run's, which the benchmarks' cleanup would empty).
QUICK_DATABASE = "leadline_bench_quick"
# queue.py sets every open lead's queue afresh and deletes what its claims wrote: in a database
# of its own, it never meets the other benchmarks' leads.
OWN_QUICK_DATABASES = {
    "queue.py": "leadline_bench_queue_quick",
    "cadence.py": "leadline_bench_cadence_quick",  # it empties its database of leads
    "feedback.py": "leadline_bench_feedback_quick",
    # Deletes and reloads its sources' events each run: never among the others' feedback.
    "feedback_webhooks.py": "leadline_bench_webhooks_quick",
    # Its worker's sweep would take the fast lane to every lead the intake benchmark left.
    "speed_to_lead.py": "leadline_bench_speed_quick",
}
QUICK_REDIS_DB = 14

# script: the lines of figures it must print
BENCHMARKS = {
    "admin_changelist.py": [
        "Lead list at ",
        "bare SQL: first 100 rows, joined (baseline)",
        "Leadline: first page",
        "stock admin: search last name",
    ],
    "intake.py": [
        "Single-lead POST",
        "leadline/baseline = ",
        "Batch endpoint:",
        "leads/s",
        "CSV import of 500 rows",
        "  leadline: ",
        "Fast lane: ",
        "  p50 ",
    ],
    "cadence.py": [
        "Cadence benchmark, ",
        "fast lane, no cadence (baseline): p50 ",
        "fast lane + Speed to lead",
        "with cadence / baseline = ",
        "then their send tasks: p50 ",
        "cadence_stop: p50 ",
    ],
    "compliance.py": [
        "Compliance gate benchmark",
        "decisions/s",
        "decide, one at a time",
        "first reason per decision",
    ],
    "feedback.py": [
        "Feedback benchmark, ",
        "Feedback export of ",
        "API over HTTP (gunicorn, streamed): ",
        "bare COPY (same query) TO STDOUT (baseline): ",
        "rollup rebuild of 31 days: ",
        "dashboard page (median of ",
        "bare aggregate over the rollups (baseline): ",
    ],
    "speed_to_lead.py": [
        "Leadline sending-path benchmark",
        "touches/s dispatched and handed to the backend",
        "bare claim-and-mark loop (baseline)",
        "sent exactly once",
        "Speed to lead: ",
        "first email: ",
        "leads without a planned first touch",
    ],
    "queue.py": [
        "Queue benchmark, ",
        "lead_claim_next ",
        "claim p99",
        "queue page, 50 rows of ",
        "claims/s, no pause, claim + call_start",
        "double claims",
        "SQL statements, lead page short / medium / long history",
    ],
    "feedback_webhooks.py": [
        "Feedback webhooks benchmark, ",
        "bare loop, one process, same bodies signed (baseline):",
        "Leadline, 1 process(es), dispatch + deliver + record:",
        "0 posted twice, 0 bad signatures, 0 out of order",
    ],
}


def _quick_env(script: str) -> dict[str, str]:
    env = {**os.environ, "BENCH_DATABASE": OWN_QUICK_DATABASES.get(script, QUICK_DATABASE)}
    if settings.REDIS_URL:
        env["REDIS_URL"] = urlunparse(
            urlparse(settings.REDIS_URL)._replace(path=f"/{QUICK_REDIS_DB}")
        )
    return env


@pytest.mark.postgres
@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_runs_quick_and_prints_its_figures(script):
    require_service(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "the benchmarks make a database of their own on DATABASE_URL's server",
    )
    if script == "speed_to_lead.py":
        require_service("Redis", bool(settings.REDIS_URL), "the benchmark runs Celery on it")
    if script == "intake.py":
        require_service("Redis", bool(settings.REDIS_URL), "intake's benchmark runs Celery on it")
        require_service("wrk", bool(shutil.which("wrk")), "apt-get install wrk")

    finished = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        cwd=ROOT,
        env=_quick_env(script),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    missing = [line for line in BENCHMARKS[script] if line not in finished.stdout]
    assert missing == [], finished.stdout[-3000:]
