"""Per-source rate limit: a fixed one-minute window."""

from rest_framework.throttling import BaseThrottle

from leads.intake.handoff import intake_window_hit
from leads.models import LeadSource

WINDOW_SECONDS = 60


def source_request_count(source: LeadSource) -> tuple[bool, int]:
    """Count one request from this source; return whether it is allowed, and the seconds
    until the window ends."""
    count, retry_after = intake_window_hit(key=f"intake:{source.pk}", window_seconds=WINDOW_SECONDS)
    return count <= source.rate_limit_per_minute, retry_after


class SourceRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        allowed, self.retry_after = source_request_count(request.user.source)
        return allowed

    def wait(self):
        return self.retry_after
