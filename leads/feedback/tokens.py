"""API tokens for the business's own systems (billing, a CRM of record): made for a
manager, shown once, kept as a hash, revocable."""

import datetime

from django.utils import timezone

from crm.roles import MANAGER
from leads.models import ApiToken

# A token's last use is written at most this often: a busy token costs no write per request.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


class TokenError(ValueError):
    pass


def is_manager(user) -> bool:
    """Say whether this user may hold an API token: an active manager or superuser."""
    if not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=MANAGER).exists()


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Make a token acting for this manager; return it with the token, shown this once."""
    if not is_manager(user):
        raise TokenError(f"{user} is not an active manager; only managers hold API tokens.")
    token = ApiToken(user=user, name=name[:100])
    key = token.set_new_key()
    token.save()
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    """Stop the token working at once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=token.revoked_at
        )


def api_token_authenticate(key: str) -> ApiToken | None:
    """Return the live token for this key and note its use, or None."""
    token = ApiToken.objects.by_token(key)
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
