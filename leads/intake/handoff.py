"""Hand newly stored leads to the fast lane: many requests, few tasks.

Publishing one Celery message per request costs more than the rest of a fast intake request.
So each request appends its lead ids to a Redis list and publishes a drain task only when
none is pending; under load one task takes the ids of many requests, and when idle each
lead still gets its task at once. Without Redis (the embedded default) tasks run in-process.
"""

import os
from functools import cache

import redis
from django.conf import settings
from redis.commands.core import Script

NEW_LEADS_KEY = "fastlane:new-leads"
DRAIN_PENDING_KEY = "fastlane:drain-pending"


def _key(name: str) -> str:
    return settings.REDIS_KEY_PREFIX + name


# If a drain message is ever lost, the next lead schedules another after this long.
DRAIN_PENDING_MS = 5000
DRAIN_CHUNK = 500


# Append the ids and say whether a drain must be scheduled: one command to send, one reply.
QUEUE = """
for first = 2, #ARGV, 500 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 499, #ARGV)))
end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""


def _redis(url: str) -> redis.Redis:
    return _process_redis(url, os.getpid())


@cache
def _process_redis(url: str, pid: int) -> redis.Redis:
    # One connection held by this process (a forked child makes its own): borrowing it from
    # a pool for every command costs a third of the command.
    return redis.Redis.from_url(url, socket_timeout=5, single_connection_client=True)


def _queue_script(url: str) -> Script:
    return _process_queue_script(url, os.getpid())


@cache
def _process_queue_script(url: str, pid: int) -> Script:
    return _redis(url).register_script(QUEUE)


def new_leads_hand_off(*, lead_ids: list[int]) -> None:
    """Queue these stored leads for the fast lane."""
    from leads.tasks import drain_new_leads, process_new_leads

    if not settings.REDIS_URL:
        process_new_leads.delay(lead_ids)
        return
    drain_needed = _queue_script(settings.REDIS_URL)(
        keys=[_key(NEW_LEADS_KEY), _key(DRAIN_PENDING_KEY)], args=[DRAIN_PENDING_MS, *lead_ids]
    )
    if drain_needed:
        drain_new_leads.delay()


def new_leads_take(*, limit: int = DRAIN_CHUNK) -> tuple[list[int], bool]:
    """Take up to `limit` queued lead ids; return them and whether more are waiting."""
    client = _redis(settings.REDIS_URL)
    # Cleared before taking: a lead queued from now on schedules a drain of its own, and one
    # queued before is taken here, so none is stranded.
    client.delete(_key(DRAIN_PENDING_KEY))
    pipe = client.pipeline(transaction=True)
    pipe.lrange(_key(NEW_LEADS_KEY), 0, limit - 1)
    pipe.ltrim(_key(NEW_LEADS_KEY), limit, -1)
    pipe.llen(_key(NEW_LEADS_KEY))
    taken, _, waiting = pipe.execute()
    return [int(lead_id) for lead_id in taken], waiting > 0
