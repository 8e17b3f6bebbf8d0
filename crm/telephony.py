"""Twilio, through its own library: the REST client, the check of what Twilio posts to us,
and the voice backends that place calls through it.

`VOICE_BACKEND` names the voice backend class, like `SMS_BACKEND`: `ConsoleVoiceBackend` (the
embedded default) logs each call instead of placing it, `TwilioVoiceBackend` places it.

`TWILIO_API_BASE_URL` sends every request to another host instead of Twilio's (tests and the
benchmarks point it at a local server answering like Twilio's REST API), through the
library's documented extension point, a custom `http_client`.
"""

import logging
import os
import uuid
from functools import cache
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponseForbidden
from django.utils.module_loading import import_string
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

logger = logging.getLogger(__name__)

DEFAULT_VOICE_BACKEND = "crm.telephony.ConsoleVoiceBackend"
# Seconds to wait for Twilio to connect and to answer. A timeout waiting for the answer
# leaves a text's fate unknown (it may have gone out); the sender reconciles it later.
TWILIO_TIMEOUT_SECONDS = 10


class RedirectedHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending every request to `base_url` instead of Twilio's hosts."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url.rstrip("/"))

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        redirected = urlunsplit(
            (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
        )
        return super().request(method, redirected, *args, **kwargs)


def twilio_client() -> Client:
    """Return this process's Twilio REST client for the TWILIO_* settings."""
    return _client_for(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        getattr(settings, "TWILIO_API_BASE_URL", ""),
        os.getpid(),
    )


@cache
def _client_for(account_sid: str, auth_token: str, base_url: str, pid: int) -> Client:
    # One client (and so one pooled HTTP session) per process and configuration.
    if base_url:
        http_client = RedirectedHttpClient(base_url, timeout=TWILIO_TIMEOUT_SECONDS)
    else:
        http_client = TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS)
    return Client(account_sid, auth_token, http_client=http_client, environment={})


def twilio_request_valid(request, *, auth_token: str, url: str | None = None) -> bool:
    """Whether Twilio signed this Django request with the account's auth token.

    A JSON body is signed through the `bodySHA256` query parameter, a form through its params.
    `url` is the address Twilio was given, when a proxy may show this process another.
    """
    validator = RequestValidator(auth_token)
    if request.content_type == "application/json":
        if "bodySHA256" not in request.GET:
            return False
        params = request.body.decode("utf-8", errors="replace")
    else:
        params = request.POST
    return validator.validate(
        url or request.build_absolute_uri(), params, request.headers.get("X-Twilio-Signature", "")
    )


def twilio_unsigned_refusal(request, *, url: str | None = None):
    """Refuse a post Twilio did not sign; None when it may be taken.

    Unsigned posts are taken only in development (DEBUG on, no TWILIO_AUTH_TOKEN): otherwise
    anyone could opt a number out, lift an opt-out with START, have HELP answers sent to any
    number at the business's cost, or mark texts delivered.
    """
    auth_token = settings.TWILIO_AUTH_TOKEN
    if not auth_token:
        if settings.DEBUG:
            return None
        return HttpResponseForbidden(
            "Twilio's posts are refused until TWILIO_AUTH_TOKEN is set to verify them.",
            content_type="text/plain",
        )
    if not twilio_request_valid(request, auth_token=auth_token, url=url):
        return HttpResponseForbidden(
            "The X-Twilio-Signature header does not match this request.",
            content_type="text/plain",
        )
    return None


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
