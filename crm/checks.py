"""The signing key: required to serve, not to read the models.

Without SECRET_KEY (and DEBUG off) Django refuses anything that signs (sessions, CSRF tokens,
password resets). The web, ASGI, Celery worker and beat processes refuse to start, and
`check --deploy` fails; commands that only read the code, such as `makemigrations --check`,
still run.
"""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
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


TWILIO_BACKEND = "crm.sms.TwilioBackend"
CONSOLE_BACKEND = "crm.sms.ConsoleBackend"


@register(Tags.security, deploy=True)
def outside_world_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """What production needs to talk to the outside world safely."""
    problems: list[CheckMessage] = []
    if settings.SMS_BACKEND == TWILIO_BACKEND and not settings.TWILIO_AUTH_TOKEN:
        problems.append(
            Error(
                "The Twilio SMS backend is in use without TWILIO_AUTH_TOKEN.",
                hint="Set TWILIO_AUTH_TOKEN: it signs what Twilio sends to the inbound "
                "webhooks, which refuse every unsigned post.",
                id="crm.E002",
            )
        )
    if settings.SMS_BACKEND == CONSOLE_BACKEND:
        problems.append(
            Warning(
                "SMS_BACKEND is the console backend: texts are marked sent but never leave.",
                hint=f"Set SMS_BACKEND={TWILIO_BACKEND} and the TWILIO_* variables.",
                id="crm.W001",
            )
        )
    if settings.SMS_BACKEND == TWILIO_BACKEND and not settings.SITE_URL:
        problems.append(
            Warning(
                "SITE_URL is not set: texts go without a status callback, so deliveries, "
                "failures and invalid numbers are never recorded.",
                hint="Set SITE_URL to this app's public https:// address.",
                id="crm.W003",
            )
        )
    if not settings.REDIS_URL:
        problems.append(
            Warning(
                "REDIS_URL is not set: Celery and RQ tasks run inside web requests.",
                hint="Set REDIS_URL and run the Celery worker, beat and RQ worker (Procfile).",
                id="crm.W002",
            )
        )
    return problems
