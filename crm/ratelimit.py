"""Fixed-window request counters, shared by every process through Redis.

Without Redis (the embedded default) the counter lives in Django's cache, i.e. this process.
A counter that cannot be reached lets the request through: a rate limit is worth less than a
lead, so with Redis away intake stores leads instead of failing.
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

from crm.redis_connection import redis_client, redis_key

logger = logging.getLogger(__name__)


def window_hit(*, key: str, window_seconds: int) -> tuple[int | None, int]:
    """Count one hit in the current window; return (hits so far, seconds until it ends).

    The count is None when the counter could not be reached.
    """
    now = time.time()
    full_key = redis_key(f"ratelimit:{key}:{int(now // window_seconds)}")
    seconds_left = window_seconds - int(now) % window_seconds
    if not settings.REDIS_URL:
        return _cache_hit(full_key, window_seconds), seconds_left
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, window_seconds * 2)
        count, _ = pipe.execute()
    except redis.RedisError:
        logger.warning("Rate limit %s not counted: Redis is unreachable", key, exc_info=True)
        return None, seconds_left
    return count, seconds_left


def _cache_hit(full_key: str, window_seconds: int) -> int:
    django_cache.add(full_key, 0, timeout=window_seconds * 2)
    try:
        return django_cache.incr(full_key)
    except ValueError:  # evicted between add and incr
        django_cache.set(full_key, 1, timeout=window_seconds * 2)
        return 1
