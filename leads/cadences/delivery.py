"""Delivery reports: what the provider says became of a text after it took it."""

import logging

from django.db import transaction
from django.utils import timezone

from crm.sms import INVALID_NUMBER_CODES
from leads.cadences.outbound import lead_contact_invalid_record, touch_sent_record
from leads.choices import Channel
from leads.models import Touch, TouchStatus

logger = logging.getLogger(__name__)

# Twilio's message statuses, as its status callbacks name them.
DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"failed", "undelivered"})
TAKEN_STATUSES = frozenset({"accepted", "queued", "sending", "sent"})


class UnknownMessage(ValueError):
    """The report names a message this touch was not sent as."""


def sms_status_record(
    *, touch_id: int, message_sid: str, status: str, error_code: int | None = None
) -> str:
    """Apply one delivery report to its touch; return the touch's status after it.

    Reports may come twice or out of order: each moves the touch forward only (sending ->
    sent -> delivered or failed), so a repeated report changes nothing.
    """
    touch = Touch.objects.select_related("lead").filter(pk=touch_id, channel=Channel.SMS).first()
    if touch is None:
        raise UnknownMessage(f"No text touch #{touch_id}.")
    if touch.provider_message_id and touch.provider_message_id != message_sid:
        raise UnknownMessage(f"Touch #{touch_id} was not sent as {message_sid}.")
    if touch.status == TouchStatus.SENDING:
        # Its worker died after the provider took it: the report settles it.
        touch_sent_record(touch, message_id=message_sid)
    if status in DELIVERED_STATUSES:
        Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENT).update(
            status=TouchStatus.DELIVERED, delivered_at=timezone.now()
        )
    elif status in FAILED_STATUSES:
        with transaction.atomic():
            failed = Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENT).update(
                status=TouchStatus.FAILED,
                status_note=f"The carrier reported it {status}"
                + (f" (Twilio error {error_code})." if error_code else "."),
            )
            if failed and error_code in INVALID_NUMBER_CODES:
                lead_contact_invalid_record(
                    lead=touch.lead,
                    channel=Channel.SMS,
                    reason=f"The carrier reported error {error_code} for this number.",
                )
    elif status not in TAKEN_STATUSES:
        logger.info("Touch %s: status %r from the provider ignored.", touch.pk, status)
    return Touch.objects.values_list("status", flat=True).get(pk=touch.pk)
