"""A lead's status, and the conversion ledger that records its steps toward a sale.

A status moves forward only: new, working, contacted, appointment, then one of the closed
ones. A closed lead stays closed, but for a lost lead that buys after all. Conversions come
from a rep's call outcome, the admin, and the business's own systems (the API), through
`conversion_record` alone.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from leads.cadences.engine import cadence_stop
from leads.feedback.outbox import conversion_feedback_record
from leads.models import (
    ContactAttempt,
    Conversion,
    ConversionKind,
    Lead,
    LeadStatus,
)
from leads.models.lead import OPEN_STATUSES

_OPEN_RANK = {
    LeadStatus.NEW: 0,
    LeadStatus.WORKING: 1,
    LeadStatus.CONTACTED: 2,
    LeadStatus.APPOINTMENT: 3,
}
# Statuses at which a lead's cadence stops: it has been reached, or is closed.
CADENCE_STOPS_AT = frozenset(
    {
        LeadStatus.CONTACTED,
        LeadStatus.APPOINTMENT,
        LeadStatus.WON,
        LeadStatus.LOST,
        LeadStatus.RETURNED,
        LeadStatus.INVALID,
        LeadStatus.DO_NOT_CONTACT,
    }
)
CADENCE_STOP_OF_CONVERSION = {
    ConversionKind.CONTACTED: "The lead was contacted.",
    ConversionKind.APPOINTMENT: "An appointment was set.",
    ConversionKind.SALE: "A sale was recorded.",
}
STATUS_OF_CONVERSION = {
    ConversionKind.CONTACTED: LeadStatus.CONTACTED,
    ConversionKind.APPOINTMENT: LeadStatus.APPOINTMENT,
    ConversionKind.SALE: LeadStatus.WON,
}


class ConversionError(ValueError):
    """A conversion that cannot be recorded; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def status_after(*, current: str, target: str) -> str:
    """The status a lead takes when an event points it at `target`."""
    if current in _OPEN_RANK:
        if target in _OPEN_RANK:
            return target if _OPEN_RANK[target] > _OPEN_RANK[current] else current
        return target
    if current == LeadStatus.LOST and target == LeadStatus.WON:
        return target
    return current


def status_advance(*, lead: Lead, target: str) -> bool:
    """Move the lead's status toward `target` as `status_after` allows; True if it moved.

    Saved with the lead's history, so the timeline shows who moved it and when.
    """
    new = status_after(current=lead.status, target=target)
    if new == lead.status:
        return False
    lead.status = new
    lead.save(update_fields=["status", "updated_at"])
    if new in CADENCE_STOPS_AT:
        cadence_stop(lead=lead, reason=f"The lead is {lead.get_status_display().lower()}.")
    return True


@transaction.atomic
def conversion_record(
    *,
    lead: Lead,
    kind: str,
    origin: str,
    revenue: Decimal | None = None,
    occurred_at: datetime.datetime | None = None,
    recorded_by=None,
    attempt: ContactAttempt | None = None,
) -> Conversion:
    """Record one step of the lead toward a sale, move its status and contact time, and
    write the feedback event for its source (in the same transaction)."""
    now = timezone.now()
    occurred_at = occurred_at or now
    if kind not in ConversionKind.values:
        raise ConversionError("kind", f"Choose one of: {', '.join(ConversionKind.values)}.")
    if kind == ConversionKind.SALE:
        if revenue is None:
            raise ConversionError("revenue", "A sale needs its revenue.")
        if not isinstance(revenue, Decimal) or not revenue.is_finite() or revenue < 0:
            raise ConversionError("revenue", "Revenue is an amount of at least 0.00.")
        if revenue.as_tuple().exponent < -2 or revenue >= Decimal("1e10"):
            raise ConversionError("revenue", "Revenue has at most 10 digits and 2 decimals.")
    elif revenue is not None:
        raise ConversionError("revenue", "Only a sale has revenue.")
    if occurred_at > now + datetime.timedelta(minutes=5):
        raise ConversionError("at", "A conversion cannot be in the future.")
    if occurred_at < lead.received_at:
        raise ConversionError("at", "A conversion cannot come before the lead arrived.")
    conversion = Conversion.objects.create(
        lead=lead,
        kind=kind,
        revenue=revenue,
        occurred_at=occurred_at,
        origin=origin,
        recorded_by=recorded_by,
        attempt=attempt,
    )
    if Lead.objects.filter(pk=lead.pk, first_contact_at__isnull=True).update(
        first_contact_at=occurred_at
    ):
        lead.first_contact_at = occurred_at
    cadence_stop(lead=lead, reason=CADENCE_STOP_OF_CONVERSION[kind])
    status_advance(lead=lead, target=STATUS_OF_CONVERSION[kind])
    conversion_feedback_record(conversion=conversion)
    return conversion


def has_conversion(*, lead: Lead, kind: str) -> bool:
    return lead.conversions.filter(kind=kind).exists()


def is_open(lead: Lead) -> bool:
    return lead.status in OPEN_STATUSES
