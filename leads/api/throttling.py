"""Per-source rate limit: a fixed one-minute window, counted in Redis (crm.ratelimit)."""

from rest_framework.throttling import BaseThrottle

from crm.ratelimit import window_hit

WINDOW_SECONDS = 60


class SourceRateThrottle(BaseThrottle):
    """Refuse a source's requests past its `rate_limit_per_minute`; let them through when the
    counter cannot be reached."""

    def allow_request(self, request, view):
        source = request.user.source
        count, self.retry_after = window_hit(
            key=f"intake:{source.pk}", window_seconds=WINDOW_SECONDS
        )
        return count <= source.rate_limit_per_minute

    def wait(self):
        return self.retry_after
