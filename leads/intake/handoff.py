"""Hand newly stored leads to the fast lane: many requests, few round trips, few tasks.

Publishing one Celery message per request costs more than the rest of a fast intake request.
So new lead ids go to a Redis list, and a drain task is published only when none is pending;
under load one task takes the ids of many requests, and when idle each lead still gets its
task at once. Without Redis (the embedded default) tasks run in-process.

A web process goes one step further (`hand_offs_defer`, called by crm.wsgi): the ids its
requests store wait in the process for at most HAND_OFF_DELAY, and travel to Redis in the
same round trip as the next intake request's rate-limit count (`intake_window_hit`), or
with a flusher thread when no request comes. Each Redis round trip costs a busy 2-core
machine a context switch to Redis and back; this halves them for a single-lead POST.

The database, not Redis, says which leads still need the fast lane: the clock's sweep
(`unprocessed_leads_hand_off`) hands off any lead left without its first history row, e.g.
when Redis was down or a process died holding ids.
"""

import atexit
import datetime
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db.models import Exists, OuterRef
from django.utils import timezone
from redis.commands.core import Script

from crm.ratelimit import window_hit, window_key
from leads.models import Lead

logger = logging.getLogger(__name__)

NEW_LEADS_KEY = "fastlane:new-leads"
DRAIN_PENDING_KEY = "fastlane:drain-pending"
SWEPT_UNTIL_KEY = "fastlane:swept-until"


def _key(name: str) -> str:
    return settings.REDIS_KEY_PREFIX + name


# If a drain message is ever lost, the next lead schedules another after this long.
DRAIN_PENDING_MS = 5000
DRAIN_CHUNK = 500
# The longest a web process holds the ids of the leads it stored before sending them.
HAND_OFF_DELAY = 0.05
# The sweep leaves alone leads received this recently: the hand-off is still on its way.
SWEEP_GRACE = datetime.timedelta(minutes=1)
# How far back the sweep looks when it does not know where it stopped last time.
SWEEP_LOOKBACK = datetime.timedelta(days=1)

# Append ids (ARGV from `first`) to KEYS[1] and say whether a drain must be scheduled
# (KEYS[2] is the pending flag, ARGV[1] its lifetime in ms).
_PUSH = """
local function push(first)
    for i = first, #ARGV, 500 do
        redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
    end
    if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then return 1 end
    return 0
end
"""
QUEUE = _PUSH + "return push(2)"
# First count one intake request in its rate-limit window (KEYS[3], expiring after ARGV[2]
# seconds), then queue the ids that came with it, if any: one command, one reply.
COUNT_AND_QUEUE = (
    _PUSH
    + """
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
if #ARGV > 2 then return {count, push(3)} end
return {count, 0}
"""
)


@dataclass
class _Held:
    """The lead ids a web process stored and has not sent yet, and what sends them."""

    # Also guards the client's one connection, shared by requests and the flusher.
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: list[int] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)
    flusher: threading.Thread | None = None


@dataclass
class _Client:
    redis: redis.Redis
    queue: Script
    count_and_queue: Script
    held: _Held


def _client() -> _Client:
    return _process_client(settings.REDIS_URL, os.getpid())


@cache
def _process_client(url: str, pid: int) -> _Client:
    # One connection held by this process (a forked child makes its own): borrowing it from
    # a pool for every command costs a third of the command.
    client = redis.Redis.from_url(url, socket_timeout=5, single_connection_client=True)
    return _Client(
        client,
        client.register_script(QUEUE),
        client.register_script(COUNT_AND_QUEUE),
        _Held(),
    )


_deferring = False


def hand_offs_defer() -> None:
    """Let this web process send its new leads with its next intake request's rate-limit
    count, or within HAND_OFF_DELAY (see the module's docstring)."""
    global _deferring
    _deferring = True


def new_leads_hand_off(*, lead_ids: list[int]) -> None:
    """Queue these stored leads for the fast lane."""
    from leads.tasks import process_new_leads

    if not settings.REDIS_URL:
        process_new_leads.delay(lead_ids)
        return
    client = _client()
    if not _deferring:
        with client.held.lock:
            drain_needed = _queue(client, lead_ids)
        _drain_schedule(drain_needed)
        return
    held = client.held
    with held.lock:
        held.ids.extend(lead_ids)
        if held.flusher is None:
            held.flusher = threading.Thread(
                target=_flush_forever, args=(client,), name="lead-hand-off", daemon=True
            )
            held.flusher.start()
            atexit.register(_flush, client)  # a worker stopping sends what it holds
    held.wake.set()


def intake_window_hit(*, key: str, window_seconds: int) -> tuple[int, int]:
    """Count one intake request in its rate-limit window, as crm.ratelimit.window_hit does,
    and send the leads this process holds in the same round trip."""
    if not settings.REDIS_URL:
        return window_hit(key=key, window_seconds=window_seconds)
    window, seconds_left = window_key(key, window_seconds)
    client = _client()
    with client.held.lock:
        ids, client.held.ids = client.held.ids, []
        try:
            count, drain_needed = client.count_and_queue(
                keys=[_key(NEW_LEADS_KEY), _key(DRAIN_PENDING_KEY), window],
                args=[DRAIN_PENDING_MS, window_seconds * 2, *ids],
            )
        except redis.RedisError:
            client.held.ids[:0] = ids  # still held, for the flusher or the next request
            raise
    _drain_schedule(drain_needed)
    return count, seconds_left


def _flush_forever(client: _Client) -> None:
    held = client.held
    while True:
        held.wake.wait()
        time.sleep(HAND_OFF_DELAY)
        held.wake.clear()
        _flush(client)


def _flush(client: _Client) -> None:
    """Send what this process holds, if a request has not sent it meanwhile."""
    with client.held.lock:
        ids, client.held.ids = client.held.ids, []
        if not ids:
            return
        try:
            drain_needed = _queue(client, ids)
        except redis.RedisError:
            # Not kept: with Redis away they would pile up here. The sweep finds them.
            logger.exception("Could not hand %d new lead(s) to the fast lane", len(ids))
            return
    _drain_schedule(drain_needed)


def _queue(client: _Client, lead_ids: list[int]) -> int:
    """Append the ids to the Redis list; return 1 if a drain must be scheduled. Call with
    the held lock taken."""
    return client.queue(
        keys=[_key(NEW_LEADS_KEY), _key(DRAIN_PENDING_KEY)], args=[DRAIN_PENDING_MS, *lead_ids]
    )


def _drain_schedule(drain_needed: int) -> None:
    from leads.tasks import drain_new_leads

    if drain_needed:
        drain_new_leads.delay()


def new_leads_take(*, limit: int = DRAIN_CHUNK) -> tuple[list[int], bool]:
    """Take up to `limit` queued lead ids; return them and whether more are waiting."""
    client = _client()
    with client.held.lock:
        # Cleared before taking: a lead queued from now on schedules a drain of its own, and
        # one queued before is taken here, so none is stranded.
        client.redis.delete(_key(DRAIN_PENDING_KEY))
        pipe = client.redis.pipeline(transaction=True)
        pipe.lrange(_key(NEW_LEADS_KEY), 0, limit - 1)
        pipe.ltrim(_key(NEW_LEADS_KEY), limit, -1)
        pipe.llen(_key(NEW_LEADS_KEY))
        taken, _, waiting = pipe.execute()
    return [int(lead_id) for lead_id in taken], waiting > 0


def unprocessed_leads_hand_off() -> int:
    """Hand off every lead received since the last sweep (up to a minute ago) that the fast
    lane has not recorded yet; return how many. Run by the clock."""
    from leads.tasks import process_new_leads

    until = timezone.now() - SWEEP_GRACE
    since = django_cache.get(_key(SWEPT_UNTIL_KEY)) or until - SWEEP_LOOKBACK
    recorded = Lead.history.filter(id=OuterRef("pk"), history_type="+")
    lead_ids = list(
        Lead.objects.filter(received_at__gt=since, received_at__lte=until)
        .filter(~Exists(recorded))
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)
    )
    # Marked first: a lead the fast lane fails on is retried by its task, not every sweep.
    django_cache.set(_key(SWEPT_UNTIL_KEY), until, timeout=None)
    if lead_ids:
        logger.warning("Handing %d lead(s) to the fast lane that missed it", len(lead_ids))
    for first in range(0, len(lead_ids), DRAIN_CHUNK):
        process_new_leads.delay(lead_ids[first : first + DRAIN_CHUNK])
    return len(lead_ids)
