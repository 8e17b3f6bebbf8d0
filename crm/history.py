"""Who made a change, for django-simple-history."""

from django.contrib.auth.models import AbstractBaseUser


def history_user(request=None, **kwargs):
    """Return the signed-in person; API callers (lead sources) are not users."""
    user = getattr(request, "user", None)
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None
