"""Twilio's REST client, and the voice backends that place calls through it.

`VOICE_BACKEND` names the backend class, like `SMS_BACKEND`: `ConsoleVoiceBackend` (the
embedded default) logs each call instead of placing it, `TwilioVoiceBackend` places it.
"""

import logging
import uuid
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)

DEFAULT_VOICE_BACKEND = "crm.telephony.ConsoleVoiceBackend"
TWILIO_TIMEOUT_SECONDS = 10


class RebasedHttpClient(TwilioHttpClient):
    """Send every request to another scheme and host (a test double of Twilio's API).

    Twilio's documented way to reach another host is a custom HTTP client; the client's
    domains build their URLs on twilio.com themselves.
    """

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        rebased = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, rebased, *args, **kwargs)


def twilio_client() -> Client:
    """Return a Twilio REST client from the TWILIO_* settings."""
    base_url = getattr(settings, "TWILIO_API_BASE_URL", "")
    options = {"timeout": TWILIO_TIMEOUT_SECONDS}
    http_client = (
        RebasedHttpClient(base_url, **options) if base_url else TwilioHttpClient(**options)
    )
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)


class ConsoleVoiceBackend:
    """Log each call instead of placing it: no callbacks follow."""

    places_calls = False

    def call(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int) -> str:
        sid = f"console-{uuid.uuid4().hex}"
        logger.info("Call to %s from %s (%s), TwiML %s", to, from_ or "-", sid, url)
        return sid

    def status(self, sid: str) -> str:
        return "completed"


class TwilioVoiceBackend:
    """Place calls through Twilio's Calls API; its webhooks say how each went."""

    places_calls = True

    def __init__(self):
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "VOICE_CALLER_ID")
            if not getattr(settings, name, "")
        ]
        if missing:
            raise ImproperlyConfigured(
                f"VOICE_BACKEND is the Twilio backend but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set."
            )

    def call(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int) -> str:
        call = twilio_client().calls.create(
            to=to,
            from_=from_,
            url=url,
            status_callback=status_callback,
            status_callback_event=["completed"],
            timeout=timeout,
        )
        return call.sid

    def status(self, sid: str) -> str:
        """The call's status as Twilio has it now: queued, ringing, in-progress, completed..."""
        return twilio_client().calls(sid).fetch().status


def voice_backend():
    """Return an instance of the backend named by VOICE_BACKEND."""
    return import_string(getattr(settings, "VOICE_BACKEND", DEFAULT_VOICE_BACKEND))()
