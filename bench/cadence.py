"""Measure what a cadence adds to the fast lane, beside the fast lane without one.

Usage: .venv/bin/python bench/cadence.py [--leads 300] [--rounds 3] [--quick]

Needs PostgreSQL (DATABASE_URL names the server; the benchmark uses its own database,
BENCH_DATABASE, default leadline_bench_cadence, which it empties of leads at the start).
Tasks run in this process (no Redis), texts and emails go to in-memory outboxes, and the
clock stands at a Monday 2 PM in the leads' zone, so the first text and email are sent.
Each round processes --leads new leads through `leads.fastlane.lead_process` twice over:
with every cadence switched off (the baseline), then with the default "Speed to lead"
cadence (8 steps planned as touches, the first text and email queued to send when the
transaction commits). Prints, for each: ms per lead p50 and p99 over all rounds, and the
SQL statements one lead costs; then the send tasks those leads queued, run one by one
(`touches_send`, what a Celery worker does next: ms per text or email), and the cost of
stopping a lead's cadence (`cadence_stop`). A warm-up lead goes first, uncounted.
--quick: 20 leads, one round: seconds, to show it still runs.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django

MONDAY_2PM = datetime.datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo("America/New_York"))
SELLER = "Bench Home Services"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _leads_create(source, count: int, start: int) -> list[int]:
    from django.utils import timezone

    from compliance.models import ConsentRecord
    from leads.models import Lead

    now = timezone.now()
    leads = Lead.objects.bulk_create(
        Lead(
            source=source,
            source_lead_id=f"bench-cadence-{start + n}",
            received_at=now,
            first_name="Dana",
            last_name=f"Bench{start + n}",
            phone=f"+1305555{(start + n) % 10000:04d}",
            email=f"bench{start + n}@example.com",
            city="Miami",
            state="FL",
            zip_code="33130",
            time_zone="America/New_York",
            product="solar",
            cost="25.00",
        )
        for n in range(count)
    )
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            lead=lead,
            channels=["call", "sms", "email"],
            seller_names=[SELLER],
            disclosure_text=f"I agree that {SELLER} may call, text and email me.",
            captured_at=now - datetime.timedelta(minutes=1),
        )
        for lead in leads
    )
    return [lead.pk for lead in leads]


def _timed(work, items) -> list[float]:
    timings = []
    for item in items:
        started = time.perf_counter()
        work(item)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _process(lead_ids: list[int]) -> list[float]:
    from leads.fastlane import lead_process

    return _timed(lambda lead_id: lead_process(lead_id=lead_id), lead_ids)


def _statements(source, start: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    (lead_id,) = _leads_create(source, 1, start)
    with CaptureQueriesContext(connection) as queries:
        _process([lead_id])
    return len(queries.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.leads, args.rounds = 20, 1
    os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or (
        "leadline_bench_cadence_quick" if args.quick else "leadline_bench_cadence"
    )
    setup_django(
        REDIS_URL="",
        SMS_BACKEND="crm.sms.LocmemBackend",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SELLER_NAMES=SELLER,
        BUSINESS_POSTAL_ADDRESS="100 Main St, Miami, FL 33130",
        SITE_URL="https://crm.example.com",
    )
    import time_machine
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection

    from compliance.models import DncList
    from crm import sms
    from leads.cadences.engine import cadence_stop
    from leads.cadences.outbound import touches_send
    from leads.models import Cadence, Lead, LeadSource
    from leads.tasks import send_touches

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # this benchmark's own database
        cursor.execute("TRUNCATE leads_lead, compliance_suppression CASCADE")
    LeadSource.objects.filter(slug="bench-cadence").delete()
    source = LeadSource.objects.create(
        name="Bench cadence vendor", slug="bench-cadence", price_per_lead="25.00"
    )
    DncList.objects.get_or_create(
        kind="national", list_date=MONDAY_2PM.date(), defaults={"status": "ready"}
    )
    default = Cadence.objects.get(is_default=True)
    # The send tasks are collected, not run in the fast lane's place: a worker runs them.
    sends: list[int] = []
    send_touches.apply_async = lambda args=(), *_, **__: sends.extend(args[0])
    mail.outbox = []
    results: dict[str, list[float]] = {"baseline": [], "cadence": []}
    statements = {}
    with time_machine.travel(MONDAY_2PM, tick=True):
        _process(_leads_create(source, 1, 10**6))  # warm-up: imports, place tables, URLs
        sends.clear()
        next_id = 0
        for _ in range(args.rounds):
            for phase in ("baseline", "cadence"):
                Cadence.objects.filter(pk=default.pk).update(is_active=phase == "cadence")
                lead_ids = _leads_create(source, args.leads, next_id)
                next_id += args.leads
                results[phase] += _process(lead_ids)
        for phase in ("baseline", "cadence"):
            Cadence.objects.filter(pk=default.pk).update(is_active=phase == "cadence")
            statements[phase] = _statements(source, next_id)
            next_id += 1
        send_timings = _timed(lambda touch_id: touches_send(touch_ids=[touch_id]), sends)
        texts = len(sms.outbox)
        enrolled = list(Lead.objects.filter(cadence_enrollment__isnull=False)[: args.leads])
        stops = []
        for lead in enrolled:
            started = time.perf_counter()
            cadence_stop(lead=lead, reason="Bench stop.")
            stops.append((time.perf_counter() - started) * 1000)
    Cadence.objects.filter(pk=default.pk).update(is_active=True)

    runs = args.leads * args.rounds
    print(f"Cadence benchmark, {args.leads} leads per phase, {args.rounds} round(s), PostgreSQL")
    labels = {
        "baseline": "fast lane, no cadence (baseline)",
        "cadence": "fast lane + Speed to lead (8 touches, text and email queued on commit)",
    }
    for phase, label in labels.items():
        timings = results[phase]
        print(
            f"  {label}: p50 {statistics.median(timings):.1f} ms, "
            f"p99 {_percentile(timings, 0.99):.1f} ms per lead, "
            f"{statements[phase]} SQL statements"
        )
    ratio = statistics.median(results["cadence"]) / statistics.median(results["baseline"])
    print(f"  with cadence / baseline = {ratio:.2f} (medians)")
    print(
        f"  then their send tasks: p50 {statistics.median(send_timings):.1f} ms, "
        f"p99 {_percentile(send_timings, 0.99):.1f} ms per text or email "
        f"({texts} texts, {len(mail.outbox)} emails for {runs + 1} enrolled leads)"
    )
    print(
        f"  cadence_stop: p50 {statistics.median(stops):.1f} ms, "
        f"p99 {_percentile(stops, 0.99):.1f} ms per lead"
    )


if __name__ == "__main__":
    main()
