"""Signed feedback webhooks: the clock posts each source's due events to its feedback URL.

Every event waits in the outbox (`FeedbackEvent`) with the time of its next attempt; the
clock claims the due ones (SKIP LOCKED, only the earliest pending event of each lead, so a
lead's events arrive in order) and leases them for a while, and a Celery task per source
and batch posts them, one event per request. A failure waits longer each time (30 seconds
doubling, at most an hour) until FEEDBACK_RETRY_HOURS after the first attempt, then the
event is given up (failed) for a manager to re-send. Countdowns never sit in the broker:
a day-long one would outlive Redis's visibility timeout and be delivered twice.
"""

import datetime
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

import requests
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from requests.adapters import HTTPAdapter

from leads.models import DeliveryStatus, FeedbackDelivery, FeedbackEvent, LeadSource
from leads.models.source import new_webhook_secret

logger = logging.getLogger(__name__)

DELIVER_TASK = "leads.tasks.deliver_feedback_events"
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Leadline-Webhooks/1"


def feedback_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the Leadline-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" keyed with the source's signing secret>."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def feedback_body(event: FeedbackEvent) -> bytes:
    """The raw body posted for an event: its stored payload, as compact JSON."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(attempts: int) -> datetime.timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return datetime.timedelta(
        seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)
    )


_local = threading.local()


def http_session() -> requests.Session:
    """This thread's HTTP session: one connection pool per worker, kept between tasks."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # The environment's proxies and CA bundle, read once: requests reads the whole
        # environment on every request otherwise, a third of a delivery's own time.
        session.proxies = urllib.request.getproxies()
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
        session.trust_env = False
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=8, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        _local.session = session
    return session


# --- The clock: claim due events and hand them to workers ---------------------------------


def _due_events(now: datetime.datetime):
    earlier_pending = FeedbackEvent.objects.filter(
        lead=OuterRef("lead"), status=DeliveryStatus.PENDING, pk__lt=OuterRef("pk")
    )
    return (
        FeedbackEvent.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(~Exists(earlier_pending))
        .order_by("next_attempt_at", "id")
    )


def feedback_deliveries_dispatch(*, now: datetime.datetime | None = None) -> int:
    """Claim the due deliveries (the earliest pending event of each lead) and queue them for
    posting, a task per source and batch; return how many. Run by the clock."""
    now = now or timezone.now()
    limit = settings.FEEDBACK_DISPATCH_LIMIT
    batch_size = settings.FEEDBACK_BATCH_SIZE
    lease_until = now + datetime.timedelta(seconds=settings.FEEDBACK_LEASE_SECONDS)
    with transaction.atomic():
        claimed = list(
            _due_events(now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "source_id")[:limit]
        )
        if not claimed:
            return 0
        # Leased: another tick (or a second clock) passes them by until the lease ends, and
        # a worker that died with them gives them back then.
        FeedbackEvent.objects.filter(pk__in=[pk for pk, _ in claimed]).update(
            next_attempt_at=lease_until
        )
        by_source: dict[int, list[int]] = {}
        for pk, source_id in claimed:
            by_source.setdefault(source_id, []).append(pk)
        lease = lease_until.isoformat()
        for ids in by_source.values():
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                # A broker away leaves them leased: the clock claims them again at its end.
                transaction.on_commit(
                    lambda batch=batch: _queue_delivery(batch, lease), robust=True
                )
    return len(claimed)


def _queue_delivery(event_ids: list[int], lease: str) -> None:
    current_app.signature(DELIVER_TASK, args=[event_ids, lease]).delay()


# --- A worker: post one batch of one source's events ----------------------------------------


@dataclass
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def unreachable(self) -> bool:
        """The receiver did not answer at all (timed out, refused): its other events wait."""
        return self.status_code is None


def feedback_post(*, url: str, secret: str, event_id: int, body: bytes) -> Outcome:
    """POST one event's body to a webhook, signed, and say what came back."""
    headers = {
        "Content-Type": "application/json",
        "Leadline-Event-Id": str(event_id),
        "Leadline-Signature": feedback_signature(
            secret=secret, timestamp=int(time.time()), body=body
        ),
    }
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        response = http_session().post(
            url,
            data=body,
            headers=headers,
            timeout=settings.FEEDBACK_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        )
        with response:
            status_code = response.status_code
            # Read a little of the answer so the connection can be reused; never all of it.
            for _ in response.iter_content(MAX_RESPONSE_BYTES):
                break
    except requests.Timeout:
        error = f"No answer within {settings.FEEDBACK_TIMEOUT_SECONDS} s."
    except requests.RequestException as exception:
        error = f"{type(exception).__name__}: {exception}"[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    return Outcome(status_code, error, duration_ms)


def _run_start(event: FeedbackEvent, attempted_at: datetime.datetime) -> datetime.datetime:
    """When this run of attempts began: its first delivery (runs restart on a re-send)."""
    if event.attempts == 0:
        return attempted_at
    first = (
        FeedbackDelivery.objects.filter(event=event)
        .order_by("-attempted_at", "-id")
        .values_list("attempted_at", flat=True)[event.attempts - 1 : event.attempts]
    )
    return next(iter(first), attempted_at)


def feedback_events_deliver(*, event_ids: list[int], lease: str | None = None) -> int:
    """Post these events (one source's, leased by the clock), in order; record each attempt
    and what follows from it. Return how many were delivered."""
    events = FeedbackEvent.objects.filter(pk__in=event_ids, status=DeliveryStatus.PENDING)
    if lease is not None:
        # Only while the lease this task was given still holds: a lease that ran out may
        # have been given to another task since.
        events = events.filter(next_attempt_at=datetime.datetime.fromisoformat(lease))
    events = list(events.select_related("source").order_by("id"))
    if not events:
        return 0
    resent = set(
        FeedbackDelivery.objects.filter(
            event_id__in=[event.pk for event in events if event.attempts == 0]
        ).values_list("event_id", flat=True)
    )
    deliveries, changed, delivered = [], [], 0
    unreachable_until = None
    # Within the task's time limit, however slowly the receiver answers: what is left goes
    # back to the clock at once, with no attempt counted.
    stop_at = time.monotonic() + settings.FEEDBACK_TASK_SECONDS
    for event in events:
        source: LeadSource = event.source
        now = timezone.now()
        if time.monotonic() > stop_at:
            event.next_attempt_at = now
            changed.append(event)
            continue
        if not source.feedback_webhook_url:
            event.status, event.next_attempt_at = DeliveryStatus.NOT_SENT, None
            changed.append(event)
            continue
        if unreachable_until is not None:
            # The receiver did not answer this batch's earlier event: ask again with it.
            event.next_attempt_at = unreachable_until
            changed.append(event)
            continue
        outcome = feedback_post(
            url=source.feedback_webhook_url,
            secret=source.webhook_signing_secret,
            event_id=event.pk,
            body=feedback_body(event),
        )
        deliveries.append(
            FeedbackDelivery(
                event=event,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                manual=event.pk in resent,
            )
        )
        event.last_status_code = outcome.status_code
        if outcome.delivered:
            event.status, event.next_attempt_at = DeliveryStatus.DELIVERED, None
            delivered += 1
        else:
            run_start = _run_start(event, now)
            retry_at = now + retry_delay(event.attempts + 1)
            if retry_at - run_start > datetime.timedelta(hours=settings.FEEDBACK_RETRY_HOURS):
                event.status, event.next_attempt_at = DeliveryStatus.FAILED, None
                logger.warning("Feedback event #%s given up: %s", event.pk, outcome.error)
            else:
                event.next_attempt_at = retry_at
            if outcome.unreachable:
                unreachable_until = retry_at
        event.attempts += 1
        changed.append(event)
    _record(deliveries, changed)
    return delivered


def _record(deliveries: list[FeedbackDelivery], changed: list[FeedbackEvent]) -> None:
    """Write the attempts, and the events' new state in as few UPDATEs as there are
    outcomes (a batch's events mostly share one): a CASE per event and field cost more
    than the posting."""
    outcomes = defaultdict(list)
    for event in changed:
        key = (event.status, event.attempts, event.next_attempt_at, event.last_status_code)
        outcomes[key].append(event.pk)
    recorded_at = timezone.now()
    with transaction.atomic():
        FeedbackDelivery.objects.bulk_create(deliveries)
        for (status, attempts, next_attempt_at, code), ids in outcomes.items():
            FeedbackEvent.objects.filter(pk__in=ids).update(
                status=status,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_status_code=code,
                delivered_at=recorded_at if status == DeliveryStatus.DELIVERED else None,
            )


# --- What managers do ------------------------------------------------------------------------


def feedback_event_resend(*, event: FeedbackEvent, by=None) -> None:
    """Send the event again at once (whatever became of it), with a new run of retries."""
    if not event.source.feedback_webhook_url:
        raise ValueError(f"{event.source} has no feedback URL to send to.")
    logger.info("Feedback event #%s re-sent by %s", event.pk, by)
    event.status, event.attempts, event.next_attempt_at = DeliveryStatus.PENDING, 0, timezone.now()
    FeedbackEvent.objects.filter(pk=event.pk).update(
        status=event.status, attempts=0, next_attempt_at=event.next_attempt_at
    )


def source_signing_secret_rotate(*, source: LeadSource) -> str:
    """Give the source a new webhook signing secret and return it; the old one stops
    signing at once."""
    source.webhook_signing_secret = new_webhook_secret()
    source.save(update_fields=["webhook_signing_secret", "updated_at"])
    return source.webhook_signing_secret
