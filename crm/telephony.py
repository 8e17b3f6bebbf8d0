"""Twilio, through its own library: the REST client and the check of what Twilio posts to us.

`TWILIO_API_BASE_URL` sends every request to another host instead of Twilio's (tests and the
benchmarks point it at a local server answering like Twilio's REST API), through the
library's documented extension point, a custom `http_client`.
"""

import os
from functools import cache
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponseForbidden
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

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


def twilio_request_valid(request, *, auth_token: str) -> bool:
    """Whether Twilio signed this Django request with the account's auth token.

    A JSON body is signed through the `bodySHA256` query parameter, a form through its params.
    """
    validator = RequestValidator(auth_token)
    if request.content_type == "application/json":
        if "bodySHA256" not in request.GET:
            return False
        params = request.body.decode("utf-8", errors="replace")
    else:
        params = request.POST
    return validator.validate(
        request.build_absolute_uri(), params, request.headers.get("X-Twilio-Signature", "")
    )


def twilio_unsigned_refusal(request):
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
    if not twilio_request_valid(request, auth_token=auth_token):
        return HttpResponseForbidden(
            "The X-Twilio-Signature header does not match this request.",
            content_type="text/plain",
        )
    return None
