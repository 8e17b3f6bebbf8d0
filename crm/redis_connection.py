"""One long-lived Redis client per process, for Leadline's own small commands.

Django's cache builds a client for every operation, and a pool per call site would open a
connection each; this one is shared by everything in the process (its pool is thread-safe).
Timeouts are short: with Redis away, a request must fail fast and carry on without it.
"""

import os
from functools import cache

import redis
from django.conf import settings

SOCKET_TIMEOUT_SECONDS = 1.0


def redis_client() -> redis.Redis:
    """Return this process's client for REDIS_URL (a forked child makes its own)."""
    return _client_for(settings.REDIS_URL, os.getpid())


@cache
def _client_for(url: str, pid: int) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )


def redis_key(name: str) -> str:
    """Return Leadline's key for `name`, under REDIS_KEY_PREFIX."""
    return settings.REDIS_KEY_PREFIX + name
