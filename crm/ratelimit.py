"""Fixed-window request counters: in Redis when configured (shared by every process), else in
Django's cache (this process only, the embedded default)."""

import os
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from redis.commands.core import Script

# The counter and its expiry in one command: on the intake path redis-py's work per command
# costs more than Redis's.
WINDOW_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _window_hit_script(url: str) -> Script:
    return _process_window_hit_script(url, os.getpid())


@cache
def _process_window_hit_script(url: str, pid: int) -> Script:
    # One connection held by this process (a forked child makes its own): borrowing it from
    # a pool for every command costs a third of the command.
    client = redis.Redis.from_url(url, socket_timeout=1, single_connection_client=True)
    return client.register_script(WINDOW_HIT)


def window_hit(*, key: str, window_seconds: int) -> tuple[int, int]:
    """Count one hit in the current window; return (hits so far, seconds until it ends)."""
    now = time.time()
    window = int(now // window_seconds)
    full_key = f"{settings.REDIS_KEY_PREFIX}ratelimit:{key}:{window}"
    if settings.REDIS_URL:
        count = _window_hit_script(settings.REDIS_URL)(keys=[full_key], args=[window_seconds * 2])
    else:
        django_cache.add(full_key, 0, timeout=window_seconds * 2)
        try:
            count = django_cache.incr(full_key)
        except ValueError:  # evicted between add and incr
            django_cache.set(full_key, 1, timeout=window_seconds * 2)
            count = 1
    return count, window_seconds - int(now) % window_seconds
