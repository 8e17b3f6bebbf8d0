"""Hand newly stored leads to the fast lane: many requests, few tasks.

Publishing one Celery message per request costs more than the rest of a fast intake request.
So each request appends its lead ids to a Redis list and publishes a drain task only when
none is pending; under load one task takes the ids of many requests, and when idle each
lead still gets its task at once. Without Redis (the embedded default) tasks run in-process.
"""

from functools import cache

import redis
from django.conf import settings

NEW_LEADS_KEY = "fastlane:new-leads"
DRAIN_PENDING_KEY = "fastlane:drain-pending"


def _key(name: str) -> str:
    return settings.REDIS_KEY_PREFIX + name


# If a drain message is ever lost, the next lead schedules another after this long.
DRAIN_PENDING_MS = 5000
DRAIN_CHUNK = 500


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def new_leads_hand_off(*, lead_ids: list[int]) -> None:
    """Queue these stored leads for the fast lane."""
    from leads.tasks import drain_new_leads, process_new_leads

    if not settings.REDIS_URL:
        process_new_leads.delay(lead_ids)
        return
    pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
    pipe.rpush(_key(NEW_LEADS_KEY), *lead_ids)
    pipe.set(_key(DRAIN_PENDING_KEY), 1, nx=True, px=DRAIN_PENDING_MS)
    _, drain_needed = pipe.execute()
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
