"""Send text messages through a pluggable backend, like Django's email backends.

`SMS_BACKEND` names the backend class: `ConsoleBackend` (the embedded default) logs each
message, `LocmemBackend` keeps them in `outbox` for tests, `TwilioBackend` sends for real
through the `twilio` library (crm.telephony).

Each backend can also say whether it sent a given message since an instant
(`sent_message_find`), so a send interrupted between the request and the provider's answer
is reconciled from the provider rather than sent again blindly.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string
from twilio.base.exceptions import TwilioRestException
from urllib3.exceptions import NewConnectionError

from crm.telephony import twilio_client

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "crm.sms.ConsoleBackend"
# Twilio's error codes saying the number can never take a text: refused when sending
# (21211 not a valid phone number, 21614 not a mobile number) or reported by the carrier
# (30005 unknown handset, 30006 landline or unreachable carrier). 30003 (handset switched
# off or out of coverage) is not among them: that number may work tomorrow.
INVALID_NUMBER_CODES = frozenset({21211, 21614, 30005, 30006})
# How many of the number's latest messages reconciliation reads.
RECONCILE_LOOKBACK = 20


class SmsError(Exception):
    """The provider did not accept the message; it was not sent."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code

    @property
    def number_invalid(self) -> bool:
        return self.code in INVALID_NUMBER_CODES


class SmsTemporaryError(SmsError):
    """The provider could not take the message now; trying again later may work."""


class SmsOutcomeUnknown(SmsError, TimeoutError):
    """The request went out but no answer came: the message may or may not have been sent."""


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    message_id: str
    status_callback: str = ""
    sent_at: datetime.datetime = field(default_factory=timezone.now)


# Messages sent through LocmemBackend, oldest first; tests clear it.
outbox: list[SmsMessage] = []


class ConsoleBackend:
    """Log each message instead of sending it."""

    def send(self, *, to: str, body: str, status_callback: str = "") -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info("SMS to %s (%s): %s", to, message_id, body)
        return message_id

    def sent_message_find(self, *, to: str, body: str, since: datetime.datetime) -> str | None:
        # A logged message is gone with the process that logged it: nothing to find.
        return None


class LocmemBackend:
    """Keep each message in `crm.sms.outbox` instead of sending it."""

    def send(self, *, to: str, body: str, status_callback: str = "") -> str:
        message_id = f"locmem-{uuid.uuid4().hex}"
        outbox.append(
            SmsMessage(to=to, body=body, message_id=message_id, status_callback=status_callback)
        )
        return message_id

    def sent_message_find(self, *, to: str, body: str, since: datetime.datetime) -> str | None:
        for message in reversed(outbox):
            if message.to == to and message.body == body and message.sent_at >= since:
                return message.message_id
        return None


class TwilioBackend:
    """Send through Twilio's Messages API."""

    def __init__(self):
        self.from_number = settings.TWILIO_FROM_NUMBER
        missing = [
            name
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
            if not getattr(settings, name, "")
        ]
        if missing:
            raise ImproperlyConfigured(
                f"SMS_BACKEND is the Twilio backend but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set."
            )
        self.client = twilio_client()

    def send(self, *, to: str, body: str, status_callback: str = "") -> str:
        options = {"status_callback": status_callback} if status_callback else {}
        with _twilio_errors_mapped():
            message = self.client.messages.create(
                to=to, from_=self.from_number, body=body, **options
            )
        return message.sid

    def sent_message_find(self, *, to: str, body: str, since: datetime.datetime) -> str | None:
        with _twilio_errors_mapped():
            messages = self.client.messages.list(
                to=to, from_=self.from_number, limit=RECONCILE_LOOKBACK
            )
        for message in messages:  # newest first
            created = message.date_created
            if message.body == body and (created is None or created >= since):
                return message.sid
        return None


class _twilio_errors_mapped:
    """Turn the library's errors into SmsError, SmsTemporaryError or SmsOutcomeUnknown."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            return False
        if isinstance(error, TwilioRestException):
            detail = f"Twilio answered {error.status}: {error.msg}"
            if error.code:
                detail += f" (error {error.code})"
            if error.status == 429 or error.status >= 500:
                raise SmsTemporaryError(detail, code=error.code) from error
            raise SmsError(f"Twilio refused the message. {detail}", code=error.code) from error
        if isinstance(error, requests.ConnectTimeout) or _not_connected(error):
            raise SmsTemporaryError(f"Could not reach Twilio: {error}") from error
        if isinstance(error, requests.RequestException):
            # The request may have reached Twilio: whether the text went is not known.
            raise SmsOutcomeUnknown(f"No answer from Twilio: {error}") from error
        return False


def _not_connected(error: BaseException) -> bool:
    """Whether a requests error happened before any byte of the request left."""
    if not isinstance(error, requests.ConnectionError) or not error.args:
        return False
    reason = getattr(error.args[0], "reason", error.args[0])
    return isinstance(reason, NewConnectionError)


def sms_backend():
    """Return an instance of the backend named by SMS_BACKEND."""
    return import_string(getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))()


def send_sms(*, to: str, body: str, status_callback: str = "") -> str:
    """Send one text message and return the provider's id for it."""
    # A backend written before status callbacks (send(*, to, body)) still works.
    options = {"status_callback": status_callback} if status_callback else {}
    return sms_backend().send(to=to, body=body, **options)


def sent_sms_find(*, to: str, body: str, since: datetime.datetime) -> str | None:
    """Return the provider's id of this text to this number sent since `since`, if any."""
    return sms_backend().sent_message_find(to=to, body=body, since=since)
