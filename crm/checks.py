"""The signing key: required to serve, not to read the models.

Without SECRET_KEY (and DEBUG off) Django refuses anything that signs (sessions, CSRF tokens,
password resets). The web, ASGI, Celery worker and beat processes refuse to start, and
`check --deploy` fails; commands that only read the code, such as `makemigrations --check`,
still run.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

MISSING = "SECRET_KEY must be set when DEBUG is off."


def secret_key_missing() -> bool:
    try:
        return not settings.SECRET_KEY
    except ImproperlyConfigured:  # Django's own refusal of an empty key
        return True


def secret_key_require() -> None:
    """Refuse to start a process that serves or sends without a signing key."""
    if secret_key_missing():
        raise ImproperlyConfigured(MISSING)


@register(Tags.security, deploy=True)
def secret_key_check(app_configs=None, **kwargs) -> list[Error]:
    if secret_key_missing():
        return [Error(MISSING, hint="Set the SECRET_KEY environment variable.", id="crm.E001")]
    return []
