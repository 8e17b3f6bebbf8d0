"""Time feedback webhooks: events delivered per second to a local receiver.

Usage: .venv/bin/python bench/feedback_webhooks.py [--events 20000] [--sources 10]
           [--processes 2] [--quick]

Needs PostgreSQL: DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test);
the benchmark creates and uses its own database on it, BENCH_DATABASE (default
leadline_bench_webhooks; leadline_bench_webhooks_quick with --quick, which runs 300 events in
seconds, to show that the benchmark still runs: its figures mean nothing).

Loads --events pending feedback events over --sources sources, each with its own feedback URL
and signing secret: most leads with one event, a tenth with three (contacted, appointment,
sold), so the order per lead is exercised. A receiver in a process of its own (a threaded
HTTP/1.1 server, keep-alive) checks every signature as the vendors' guide says, and counts
the events it got, the distinct ids, the bad signatures and the leads whose events came out
of order. Then:
- the baseline: one process posting the same bodies, signed, one after another on one
  keep-alive session (no database at all): the most one process can post to this receiver;
- Leadline, one process: the clock's own path, `feedback_deliveries_dispatch` (claim the due
  events with SKIP LOCKED, the earliest pending of each lead, lease them) handing each batch
  to `feedback_events_deliver` (Celery in-process: post each, record each attempt, bulk
  update the events), tick after tick until every event is delivered;
- Leadline, --processes processes doing the same at once (as several workers and clocks
  would), which must neither post an event twice nor out of order.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import multiprocessing
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_DATABASE = "leadline_bench_webhooks"
QUICK_DATABASE = "leadline_bench_webhooks_quick"
QUICK_SIZES = {"events": 300, "sources": 3, "processes": 2}
SLUG_PREFIX = "bench-webhooks-"
THREE_EVENT_SHARE = 10  # one lead in ten has three events


# --- The receiver ------------------------------------------------------------------------


def _receiver(port_queue, secrets: dict[str, str]) -> None:
    """Serve until killed; answer 200 to each signed POST, GET /stats for the counts."""
    lock = threading.Lock()
    state = {"received": 0, "ids": set(), "bad": 0, "last": {}, "out_of_order": 0}

    def valid(secret: str, body: bytes, header: str) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(","))
        signed = parts["t"].encode() + b"." + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            secret = secrets.get(self.path, "")
            event = json.loads(body)
            good = valid(secret, body, self.headers.get("Leadline-Signature", "t=0,v1=0"))
            with lock:
                state["received"] += 1
                state["ids"].add(event["id"])
                state["bad"] += not good
                lead = event["lead"]["id"]
                if state["last"].get(lead, 0) > event["id"]:
                    state["out_of_order"] += 1
                state["last"][lead] = max(state["last"].get(lead, 0), event["id"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                answer = {
                    "received": state["received"],
                    "distinct": len(state["ids"]),
                    "bad_signatures": state["bad"],
                    "out_of_order": state["out_of_order"],
                }
                if self.path == "/reset":
                    state.update(received=0, ids=set(), bad=0, last={}, out_of_order=0)
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _stats(port: int, path: str = "/stats") -> dict:
    import requests

    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).json()


# --- The data ------------------------------------------------------------------------------


def load(args, port: int) -> dict[str, str]:
    """Make the sources and their pending events afresh; return each URL path's secret."""
    from django.db import connection
    from django.utils import timezone

    from leads.feedback.outbox import feedback_payload
    from leads.models import (
        DeliveryStatus,
        FeedbackDelivery,
        FeedbackEvent,
        FeedbackEventType,
        Lead,
        LeadSource,
    )

    FeedbackDelivery.objects.filter(event__source__slug__startswith=SLUG_PREFIX).delete()
    FeedbackEvent.objects.filter(source__slug__startswith=SLUG_PREFIX).delete()
    Lead.objects.filter(source__slug__startswith=SLUG_PREFIX).delete()
    LeadSource.objects.filter(slug__startswith=SLUG_PREFIX).delete()
    now = timezone.now()
    sources = []
    for number in range(args.sources):
        source = LeadSource(
            name=f"Bench webhooks {number}",
            slug=f"{SLUG_PREFIX}{number}",
            shares_revenue=number % 2 == 0,
        )
        source.set_new_api_key()
        source.save()
        source.feedback_webhook_url = f"http://127.0.0.1:{port}/s/{source.pk}"
        source.save(update_fields=["feedback_webhook_url"])
        sources.append(source)
    types = [FeedbackEventType.CONTACTED, FeedbackEventType.APPOINTMENT, FeedbackEventType.SOLD]
    plan = []  # (lead number, type)
    lead_number = 0
    while len(plan) < args.events:
        count = 3 if lead_number % THREE_EVENT_SHARE == 0 else 1
        plan += [(lead_number, types[i]) for i in range(count)]
        lead_number += 1
    plan = plan[: args.events]
    leads = Lead.objects.bulk_create(
        Lead(
            source=sources[number % len(sources)],
            source_lead_id=f"BF-{number}",
            received_at=now - datetime.timedelta(hours=1),
            phone=f"+1305{5550000 + number % 10_000_000:07d}",
        )
        for number in range(lead_number)
    )
    events = FeedbackEvent.objects.bulk_create(
        FeedbackEvent(
            source=leads[number].source,
            lead=leads[number],
            type=type,
            occurred_at=now,
            payload={},
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
        )
        for number, type in plan
    )
    for event in events:
        event.payload = feedback_payload(
            event_id=event.pk, lead=event.lead, type=event.type, occurred_at=now
        )
    FeedbackEvent.objects.bulk_update(events, ["payload"], batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_feedbackevent")
    return {f"/s/{source.pk}": source.webhook_signing_secret for source in sources}


def _reset_pending() -> None:
    from django.utils import timezone

    from leads.models import DeliveryStatus, FeedbackDelivery, FeedbackEvent

    FeedbackDelivery.objects.filter(event__source__slug__startswith=SLUG_PREFIX).delete()
    FeedbackEvent.objects.filter(source__slug__startswith=SLUG_PREFIX).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        last_status_code=None,
        delivered_at=None,
    )


# --- The measurements ------------------------------------------------------------------------


def bare_loop(port_paths: list[tuple[str, str, bytes, int]]) -> float:
    """Post every body, signed, one after another on one session; return events/s."""
    import requests

    session = requests.Session()
    started = time.perf_counter()
    for url, secret, body, event_id in port_paths:
        timestamp = int(time.time())
        signed = f"{timestamp}.".encode() + body
        signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        response = session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Leadline-Event-Id": str(event_id),
                "Leadline-Signature": f"t={timestamp},v1={signature}",
            },
            timeout=5,
        )
        response.raise_for_status()
    return len(port_paths) / (time.perf_counter() - started)


def _dispatch_until_done(start_at: float) -> int:
    """Tick the clock's dispatch in this process until nothing is pending; return ticks."""
    import django
    from django.db import connections

    django.setup()
    from leads.feedback.webhooks import feedback_deliveries_dispatch
    from leads.models import DeliveryStatus, FeedbackEvent

    while time.time() < start_at:
        time.sleep(0.001)
    ticks = 0
    pending = FeedbackEvent.objects.filter(
        source__slug__startswith=SLUG_PREFIX, status=DeliveryStatus.PENDING
    )
    while True:
        ticks += 1
        if not feedback_deliveries_dispatch() and not pending.exists():
            break
    connections.close_all()
    return ticks


def leadline(processes: int) -> tuple[float, int]:
    """Deliver every pending event through the clock's path; return events/s and ticks."""
    from leads.models import DeliveryStatus, FeedbackEvent

    count = FeedbackEvent.objects.filter(source__slug__startswith=SLUG_PREFIX).count()
    from django.db import connections

    connections.close_all()
    start_at = time.time() + 0.5
    started = time.perf_counter()
    if processes == 1:
        while time.time() < start_at:
            time.sleep(0.001)
        started = time.perf_counter()
        ticks = _dispatch_until_done(start_at)
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(processes) as pool:
            results = pool.map(_dispatch_until_done, [start_at] * processes)
        ticks = sum(results)
        started += 0.5
    elapsed = time.perf_counter() - started
    left = (
        FeedbackEvent.objects.filter(source__slug__startswith=SLUG_PREFIX)
        .exclude(status=DeliveryStatus.DELIVERED)
        .count()
    )
    if left:
        sys.exit(f"{left} event(s) not delivered")
    return count / elapsed, ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes in a database of their own"
    )
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK_SIZES)
    os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or (
        QUICK_DATABASE if args.quick else DEFAULT_DATABASE
    )
    # Celery runs in this process (no REDIS_URL): the figures are the path's, not a broker's.
    os.environ.pop("REDIS_URL", None)
    from bench._common import setup_django

    setup_django(REDIS_URL="", LOG_LEVEL="ERROR")
    from django.core.management import call_command

    from leads.feedback.webhooks import feedback_body
    from leads.models import FeedbackEvent

    call_command("migrate", verbosity=0)
    context = multiprocessing.get_context("spawn")
    port_queue = context.Queue()
    # The secrets are known once the sources exist: the receiver learns them from a file.
    secrets_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-webhooks-{os.getpid()}.json"
    receiver = None
    try:
        # A first receiver only to learn a free port for the URLs; then the real one on it.
        from socket import socket

        with socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        secrets = load(args, port)
        secrets_path.write_text(json.dumps(secrets))
        receiver = context.Process(
            target=_receiver_on_port, args=(port_queue, port, str(secrets_path)), daemon=True
        )
        receiver.start()
        port_queue.get(timeout=30)
        events = list(
            FeedbackEvent.objects.filter(source__slug__startswith=SLUG_PREFIX)
            .select_related("source")
            .order_by("id")
        )
        print(
            f"Feedback webhooks benchmark, {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}: {len(events):,} events, "
            f"{args.sources} sources, receiver in its own process"
        )
        bodies = [
            (e.source.feedback_webhook_url, e.source.webhook_signing_secret, feedback_body(e), e.pk)
            for e in events
        ]
        bare = bare_loop(bodies)
        print(f"  bare loop, one process, same bodies signed (baseline): {bare:8,.0f} events/s")
        _stats(port, "/reset")
        for processes in (1, args.processes):
            _reset_pending()
            rate, ticks = leadline(processes)
            stats = _stats(port, "/reset")
            print(
                f"  Leadline, {processes} process(es), dispatch + deliver + record: "
                f"{rate:8,.0f} events/s ({rate / bare:.0%} of the baseline; {ticks} ticks)"
            )
            print(
                f"    receiver: {stats['received']:,} posts, {stats['distinct']:,} distinct ids, "
                f"{stats['received'] - stats['distinct']} posted twice, "
                f"{stats['bad_signatures']} bad signatures, {stats['out_of_order']} out of order"
            )
    finally:
        if receiver is not None:
            receiver.terminate()
        secrets_path.unlink(missing_ok=True)
    print(f"\n(load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


def _receiver_on_port(port_queue, port: int, secrets_path: str) -> None:
    """The receiver, on the port the sources' URLs name."""
    secrets = json.loads(Path(secrets_path).read_text())
    ThreadingHTTPServer.allow_reuse_address = True
    original = ThreadingHTTPServer.__init__

    def bind_here(self, address, handler, *rest):
        original(self, ("127.0.0.1", port), handler, *rest)

    ThreadingHTTPServer.__init__ = bind_here
    _receiver(port_queue, secrets)


if __name__ == "__main__":
    main()
