"""Handing a touch to its provider: texts through crm.sms, emails through Django's email.

Every provider's failure is told as one of three: not sent and never will be (`NotSent`,
saying whether the address itself is invalid), not sent yet (`NotSentYet`: trying again
later may work), or not known (`OutcomeUnknown`: the request left and no answer came, so
it must be reconciled, never sent again blindly).
"""

import smtplib
import socket
from email.utils import make_msgid

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse

from compliance.models import Purpose
from compliance.unsubscribe import (
    list_unsubscribe_headers,
    marketing_email_footer,
    unsubscribe_url,
    unsubscribe_urls,
)
from crm.sms import SmsError, SmsOutcomeUnknown, SmsTemporaryError, send_sms, sent_sms_find
from leads.choices import Channel
from leads.models import Touch

SMS_OPT_OUT_HINT = "Reply STOP to opt out."
STATUS_CALLBACK_SALT = "leads.touch-status"


class NotSent(Exception):
    """The provider refused the touch for good."""

    def __init__(self, message: str, *, address_invalid: bool = False):
        super().__init__(message)
        self.address_invalid = address_invalid


class NotSentYet(Exception):
    """The provider could not take the touch now; it was not sent."""


class OutcomeUnknown(Exception):
    """The touch went to the provider and no answer came back."""


def sms_body(touch: Touch) -> str:
    """The text as sent: a marketing text says how to opt out."""
    if touch.purpose == Purpose.MARKETING and "STOP" not in touch.body.upper():
        return f"{touch.body} {SMS_OPT_OUT_HINT}"
    return touch.body


def status_callback_url(touch_id: int) -> str:
    """The absolute URL the provider reports this text's delivery to, signed with its id."""
    if not settings.SITE_URL:
        return ""
    token = signing.Signer(salt=STATUS_CALLBACK_SALT).sign(str(touch_id))
    return f"{settings.SITE_URL}{reverse('sms_status', args=[token])}"


def status_callback_touch_id(token: str) -> int | None:
    """The touch id a status callback's URL carries, or None when its signature is wrong."""
    try:
        return int(signing.Signer(salt=STATUS_CALLBACK_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def email_connection():
    """Open one connection to the email server for a batch of touches."""
    return get_connection(fail_silently=False)


def unsubscribe_links(touches: list[Touch]) -> dict[int, str]:
    """The unsubscribe URL each marketing email of these will carry, by touch id."""
    marketing = [
        t for t in touches if t.channel == Channel.EMAIL and t.purpose == Purpose.MARKETING
    ]
    urls = unsubscribe_urls(recipients=[(t.lead.email, t.lead_id) for t in marketing])
    return {t.pk: urls[(t.lead.email, t.lead_id)] for t in marketing}


def touch_deliver(touch: Touch, *, connection=None, unsubscribe_link: str = "") -> str:
    """Hand the touch to its provider; return the provider's message id."""
    if touch.channel == Channel.SMS:
        try:
            return send_sms(
                to=str(touch.lead.phone),
                body=sms_body(touch),
                status_callback=status_callback_url(touch.pk),
            )
        except SmsOutcomeUnknown as error:
            raise OutcomeUnknown(str(error)) from error
        except SmsTemporaryError as error:
            raise NotSentYet(str(error)) from error
        except SmsError as error:
            raise NotSent(str(error), address_invalid=error.number_invalid) from error
    return _email_send(touch, connection=connection, unsubscribe_link=unsubscribe_link)


def sent_text_find(touch: Touch, *, since) -> str | None:
    """The provider's id of this touch's text if the provider sent it since `since`."""
    try:
        return sent_sms_find(to=str(touch.lead.phone), body=sms_body(touch), since=since)
    except SmsError as error:
        raise NotSentYet(str(error)) from error


def _email_send(touch: Touch, *, connection, unsubscribe_link: str) -> str:
    lead = touch.lead
    body, headers = touch.body, {"Message-ID": make_msgid(domain="leadline")}
    if touch.purpose == Purpose.MARKETING:
        url = unsubscribe_link or unsubscribe_url(email=lead.email, lead_id=lead.pk)
        body = f"{body}\n\n{marketing_email_footer(email=lead.email, url=url)}"
        headers |= list_unsubscribe_headers(email=lead.email, url=url)
    message = EmailMessage(
        subject=touch.subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[lead.email],
        headers=headers,
        connection=connection,
    )
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        if code >= 500:
            raise NotSent(
                f"The mail server refused the address ({code}): {_text(reply)}",
                address_invalid=True,
            ) from error
        raise NotSentYet(f"The mail server deferred the address ({code})") from error
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        if error.smtp_code >= 500:
            raise NotSent(f"The mail server refused the email ({error.smtp_code})") from error
        raise NotSentYet(f"The mail server deferred the email ({error.smtp_code})") from error
    except (smtplib.SMTPConnectError, ConnectionRefusedError, socket.gaierror) as error:
        raise NotSentYet(f"Could not reach the mail server: {error}") from error
    except (smtplib.SMTPException, OSError) as error:
        # Disconnected or timed out, possibly after the server took the message.
        raise OutcomeUnknown(f"The mail server did not confirm: {error}") from error
    return headers["Message-ID"]


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
