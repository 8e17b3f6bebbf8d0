"""Failed sign-ins: who is locked out, by django-axes.

A username tried from one address locks after AXES_FAILURE_LIMIT failures, so a rep can never
be locked out by someone elsewhere guessing their password. An address that fails
ADDRESS_FAILURE_LIMIT times across any usernames is locked as a whole for the cool-off:
that is someone working through a list. A manager unlocks either at once in the admin
(*Access attempts*: delete the attempt).
"""

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

USERNAME_AT_ADDRESS = ["username", "ip_address"]
ADDRESS_FAILURE_LIMIT = 30


def lockout_parameters(request_or_attempt, credentials=None) -> list:
    """Return what axes locks out on: the username at an address, and the address itself
    once it has failed ADDRESS_FAILURE_LIMIT times."""
    from axes.helpers import get_client_ip_address
    from axes.models import AccessAttempt

    if isinstance(request_or_attempt, HttpRequest):
        address = get_client_ip_address(request_or_attempt)
    else:  # a stored attempt, when axes cleans up
        address = request_or_attempt.ip_address
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failures = (
        AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
            total=Sum("failures_since_start")
        )["total"]
        or 0
    )
    if failures >= ADDRESS_FAILURE_LIMIT:
        return [USERNAME_AT_ADDRESS, "ip_address"]
    return [USERNAME_AT_ADDRESS]
