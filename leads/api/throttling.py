"""Per-source rate limit: a fixed one-minute window, counted in Redis (crm.ratelimit)."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.throttling import BaseThrottle

from crm.ratelimit import window_hit

WINDOW_SECONDS = 60
RETRY_WITHOUT_REDIS_SECONDS = 30


class IntakePaused(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Intake is paused for a moment; nothing was stored. Send it again later."
    default_code = "intake_paused"
    wait = RETRY_WITHOUT_REDIS_SECONDS  # DRF answers it as Retry-After


class SourceRateThrottle(BaseThrottle):
    """Refuse a source's requests past its `rate_limit_per_minute`.

    When the counter cannot be reached (Redis away), let the request through, unless the
    business chose (INTAKE_WITHOUT_REDIS=refuse) to ask sources to send again later.
    """

    def allow_request(self, request, view):
        source = request.user.source
        count, self.retry_after = window_hit(
            key=f"intake:{source.pk}", window_seconds=WINDOW_SECONDS
        )
        if count is None:
            if settings.INTAKE_WITHOUT_REDIS == "refuse":
                raise IntakePaused()
            return True
        return count <= source.rate_limit_per_minute

    def wait(self):
        return self.retry_after
