"""Fixed-window request counters: in Redis when configured (shared by every process), else in
Django's cache (this process only, the embedded default)."""

import time
from collections.abc import Mapping
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1)


def window_hit(*, key: str, window_seconds: int) -> tuple[int, int]:
    """Count one hit in the current window; return (hits so far, seconds until it ends)."""
    now = time.time()
    window = int(now // window_seconds)
    full_key = f"{settings.REDIS_KEY_PREFIX}ratelimit:{key}:{window}"
    if settings.REDIS_URL:
        # One round trip: the counter and its expiry together.
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, window_seconds * 2)
        count = pipe.execute()[0]
    else:
        django_cache.add(full_key, 0, timeout=window_seconds * 2)
        try:
            count = django_cache.incr(full_key)
        except ValueError:  # evicted between add and incr
            django_cache.set(full_key, 1, timeout=window_seconds * 2)
            count = 1
    return count, window_seconds - int(now) % window_seconds


def recent_hits(*, counts: Mapping[str, int], window_seconds: int, buckets: int = 6) -> dict:
    """Add these hits per key; return each key's hits over about the last `window_seconds`.

    The window slides in `buckets` steps: hits are kept per bucket of window/buckets seconds
    and the current bucket is summed with the ones before it.
    """
    if not counts:
        return {}
    step = max(1, window_seconds // buckets)
    current = int(time.time() // step)
    prefix = f"{settings.REDIS_KEY_PREFIX}ratelimit"
    names = {key: [f"{prefix}:{key}:{current - n}" for n in range(buckets)] for key in counts}
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        for key, hits in counts.items():
            pipe.incrby(names[key][0], hits)
            pipe.expire(names[key][0], window_seconds + step)
            pipe.mget(names[key][1:])
        replies = iter(pipe.execute())
        totals = {}
        for key in counts:
            latest, _, earlier = next(replies), next(replies), next(replies)
            totals[key] = latest + sum(int(n) for n in earlier if n is not None)
        return totals
    totals = {}
    for key, hits in counts.items():
        django_cache.add(names[key][0], 0, timeout=window_seconds + step)
        latest = django_cache.incr(names[key][0], hits)
        earlier = django_cache.get_many(names[key][1:]).values()
        totals[key] = latest + sum(earlier)
    return totals
