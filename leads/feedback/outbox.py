"""The outbox: every conversion and return becomes a feedback event for the lead's source.

An event is written in the transaction that made the change, so it exists exactly when the
change does. Sources with a feedback webhook get it posted by the clock
(`leads.feedback.webhooks`); the others read it in their exports.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from leads.models import (
    Conversion,
    ConversionKind,
    DeliveryStatus,
    FeedbackEvent,
    FeedbackEventType,
    Lead,
    LeadReturn,
)

EVENT_OF_CONVERSION = {
    ConversionKind.CONTACTED: FeedbackEventType.CONTACTED,
    ConversionKind.APPOINTMENT: FeedbackEventType.APPOINTMENT,
    ConversionKind.SALE: FeedbackEventType.SOLD,
}


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def feedback_payload(
    *,
    event_id: int,
    lead: Lead,
    type: str,
    occurred_at: datetime.datetime,
    conversion: Conversion | None = None,
    lead_return: LeadReturn | None = None,
) -> dict:
    """Return the JSON body a source receives for this event."""
    payload = {
        "id": event_id,
        "type": type,
        "occurred_at": _iso(occurred_at),
        "lead": {
            "id": lead.pk,
            "source_lead_id": lead.source_lead_id,
            "received_at": _iso(lead.received_at),
        },
    }
    if conversion is not None and conversion.revenue is not None and lead.source.shares_revenue:
        payload["revenue"] = f"{conversion.revenue:.2f}"
    if lead_return is not None:
        payload["reason"] = lead_return.reason
    return payload


def feedback_event_record(
    *,
    lead: Lead,
    type: str,
    occurred_at: datetime.datetime,
    conversion: Conversion | None = None,
    lead_return: LeadReturn | None = None,
) -> FeedbackEvent:
    """Write one feedback event for the lead's source, in the caller's transaction."""
    if type not in FeedbackEventType.values:
        raise ValueError(f"Unknown feedback event type {type!r}.")
    source = lead.source
    now = timezone.now()
    has_webhook = bool(source.feedback_webhook_url)
    with transaction.atomic():
        event = FeedbackEvent.objects.create(
            source=source,
            lead=lead,
            type=type,
            occurred_at=occurred_at,
            payload={},
            conversion=conversion,
            lead_return=lead_return,
            status=DeliveryStatus.PENDING if has_webhook else DeliveryStatus.NOT_SENT,
            next_attempt_at=now if has_webhook else None,
        )
        # The body carries the event's own id, known only once the row exists.
        event.payload = feedback_payload(
            event_id=event.pk,
            lead=lead,
            type=type,
            occurred_at=occurred_at,
            conversion=conversion,
            lead_return=lead_return,
        )
        FeedbackEvent.objects.filter(pk=event.pk).update(payload=event.payload)
    return event


def conversion_feedback_record(*, conversion: Conversion) -> FeedbackEvent:
    """Write the feedback event a conversion makes (lead.contacted, .appointment, .sold)."""
    return feedback_event_record(
        lead=conversion.lead,
        type=EVENT_OF_CONVERSION[conversion.kind],
        occurred_at=conversion.occurred_at,
        conversion=conversion,
    )
