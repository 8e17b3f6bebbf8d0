"""Send text messages through a pluggable backend, like Django's email backends.

`SMS_BACKEND` names the backend class: `ConsoleBackend` (the embedded default) logs each
message, `LocmemBackend` keeps them in `outbox` for tests, `TwilioBackend` sends for real.
"""

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "crm.sms.ConsoleBackend"
TWILIO_MESSAGES_URL = "https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages.json"
TWILIO_TIMEOUT_SECONDS = 10


class SmsError(Exception):
    """The provider did not accept the message; it was not sent."""


class SmsTemporaryError(SmsError):
    """The provider could not take the message now; trying again later may work."""


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    message_id: str


# Messages sent through LocmemBackend, oldest first; tests clear it.
outbox: list[SmsMessage] = []


class ConsoleBackend:
    """Log each message instead of sending it."""

    def send(self, *, to: str, body: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("SMS to %s (%s): %s", to, message_id, body)
        return message_id


class LocmemBackend:
    """Keep each message in `crm.sms.outbox` instead of sending it."""

    def send(self, *, to: str, body: str) -> str:
        message_id = f"locmem-{uuid.uuid4().hex}"
        outbox.append(SmsMessage(to=to, body=body, message_id=message_id))
        return message_id


class TwilioBackend:
    """Send through Twilio's Messages API."""

    def __init__(self):
        self.account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
        self.auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
        self.from_number = getattr(settings, "TWILIO_FROM_NUMBER", "")
        missing = [
            name
            for name, value in [
                ("TWILIO_ACCOUNT_SID", self.account_sid),
                ("TWILIO_AUTH_TOKEN", self.auth_token),
                ("TWILIO_FROM_NUMBER", self.from_number),
            ]
            if not value
        ]
        if missing:
            raise ImproperlyConfigured(
                f"SMS_BACKEND is the Twilio backend but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set."
            )

    def send(self, *, to: str, body: str) -> str:
        request = urllib.request.Request(
            TWILIO_MESSAGES_URL.format(account_sid=self.account_sid),
            data=urllib.parse.urlencode(
                {"To": to, "From": self.from_number, "Body": body}
            ).encode(),
            headers={"Authorization": f"Basic {self._credentials()}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TWILIO_TIMEOUT_SECONDS) as response:
                return json.load(response)["sid"]
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            if error.code == 429 or error.code >= 500:
                raise SmsTemporaryError(f"Twilio answered {error.code}: {detail}") from error
            raise SmsError(f"Twilio refused the message ({error.code}): {detail}") from error
        except urllib.error.URLError as error:
            # Raised before the request was fully sent; a timeout waiting for the answer is
            # not caught, because the message may have gone out.
            raise SmsTemporaryError(f"Could not reach Twilio: {error.reason}") from error

    def _credentials(self) -> str:
        return base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()


def sms_backend():
    """Return an instance of the backend named by SMS_BACKEND."""
    return import_string(getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))()


def send_sms(*, to: str, body: str) -> str:
    """Send one text message and return the provider's id for it."""
    return sms_backend().send(to=to, body=body)
