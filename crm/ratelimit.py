"""Fixed-window request counters, kept in Django's cache (Redis when configured, so every
process shares them). Lead intake counts its requests in its own Redis round trip instead:
see leads.intake.handoff.intake_window_hit."""

import time

from django.conf import settings
from django.core.cache import cache as django_cache


def window_key(key: str, window_seconds: int) -> tuple[str, int]:
    """Return the counter of the current window for this key, and the seconds until it ends."""
    now = time.time()
    window = int(now // window_seconds)
    full_key = f"{settings.REDIS_KEY_PREFIX}ratelimit:{key}:{window}"
    return full_key, window_seconds - int(now) % window_seconds


def window_hit(*, key: str, window_seconds: int) -> tuple[int, int]:
    """Count one hit in the current window; return (hits so far, seconds until it ends)."""
    full_key, seconds_left = window_key(key, window_seconds)
    django_cache.add(full_key, 0, timeout=window_seconds * 2)
    try:
        count = django_cache.incr(full_key)
    except ValueError:  # evicted between add and incr
        django_cache.set(full_key, 1, timeout=window_seconds * 2)
        count = 1
    return count, seconds_left
