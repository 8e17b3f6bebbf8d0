"""Per-source rate limit: a fixed one-minute window counted in the shared cache."""

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


class SourceRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        source = request.user.source
        window = int(time.time() // WINDOW_SECONDS)
        key = f"intake-rate:{source.pk}:{window}"
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr: count this request alone
            cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        self.retry_after = WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
        return count <= source.rate_limit_per_minute

    def wait(self):
        return self.retry_after
