"""Hand newly stored leads to the fast lane, by id, after their commit.

Publishing a Celery message per request costs more than the rest of a fast intake request,
so the ids go to a Redis list and a drain task is published only when none is pending: under
load one task takes the ids of many requests, and when idle each lead still gets its task at
once. Without Redis (the embedded default) the fast lane's task runs in-process.

Tasks are queued by name: intake knows nothing of the stages after it. The database, not
Redis, says which leads still need the fast lane (`Lead.processed_at`), and the clock's sweep
hands off any lead this missed, e.g. when Redis was down or a process died.
"""

import logging

import redis
from celery import current_app
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from crm.redis_connection import redis_client, redis_key

logger = logging.getLogger(__name__)

NEW_LEADS_KEY = "fastlane:new-leads"
DRAIN_PENDING_KEY = "fastlane:drain-pending"
PROCESS_TASK = "leads.tasks.process_new_leads"
DRAIN_TASK = "leads.tasks.drain_new_leads"
# If a drain message is ever lost, the next lead schedules another after this long.
DRAIN_PENDING_MS = 5000
DRAIN_CHUNK = 500


def new_leads_hand_off(*, lead_ids: list[int]) -> None:
    """Queue these committed leads for the fast lane; never raise (the sweep is the backstop)."""
    try:
        if not settings.REDIS_URL:
            current_app.signature(PROCESS_TASK, args=[lead_ids]).delay()
            return
        pipe = redis_client().pipeline(transaction=False)
        pipe.rpush(redis_key(NEW_LEADS_KEY), *lead_ids)
        pipe.set(redis_key(DRAIN_PENDING_KEY), 1, nx=True, px=DRAIN_PENDING_MS)
        _, drain_needed = pipe.execute()
        if drain_needed:
            current_app.signature(DRAIN_TASK).delay()
    except (redis.RedisError, BrokerError):
        logger.warning(
            "Could not hand %d new lead(s) to the fast lane; the sweep will",
            len(lead_ids),
            exc_info=True,
        )


def new_leads_take(*, limit: int = DRAIN_CHUNK) -> tuple[list[int], bool]:
    """Take up to `limit` queued lead ids; return them and whether more are waiting."""
    client = redis_client()
    # Cleared before taking: a lead queued from now on schedules a drain of its own, and one
    # queued before is taken here, so none is stranded.
    client.delete(redis_key(DRAIN_PENDING_KEY))
    pipe = client.pipeline(transaction=True)
    pipe.lrange(redis_key(NEW_LEADS_KEY), 0, limit - 1)
    pipe.ltrim(redis_key(NEW_LEADS_KEY), limit, -1)
    pipe.llen(redis_key(NEW_LEADS_KEY))
    taken, _, waiting = pipe.execute()
    return [int(lead_id) for lead_id in taken], waiting > 0
