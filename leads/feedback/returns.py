"""Returns: asking a lead's source to take it back and credit what it cost.

A return is requested (by a rep, a manager, the business's own systems, or automatically)
within the source's rules, sent to the source, then accepted (credited: the lead is
returned, for good) or rejected (the lead may be asked about again). Each step writes its
feedback event in the same transaction.
"""

import datetime
import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.feedback.outbox import feedback_event_record
from leads.models import (
    FeedbackEventType,
    Lead,
    LeadReturn,
    LeadSource,
    LeadStatus,
    ReturnOrigin,
    ReturnReason,
    ReturnStatus,
    TouchStatus,
)
from leads.validators import unstorable_text_problem

logger = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 2000
UNDECIDED = (ReturnStatus.REQUESTED, ReturnStatus.SENT)

# Why a return was refused, for machines (the API's "reasons"), beside the words for people.
REASON_NOT_ALLOWED = "reason_not_allowed"
OUTSIDE_WINDOW = "outside_window"
ALREADY_RETURNED = "already_returned"
OVER_RETURN_CAP = "over_return_cap"
INVALID = "invalid"
ALREADY_DECIDED = "already_decided"


class ReturnError(ValueError):
    """A return that cannot be made; `field` names what is wrong, `code` why."""

    def __init__(self, field: str, message: str, code: str = INVALID):
        super().__init__(message)
        self.field = field
        self.code = code


def month_bounds(moment: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """Return the start of the calendar month (UTC) holding `moment`, and of the next one."""
    start = moment.astimezone(datetime.UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    following = (start + datetime.timedelta(days=32)).replace(day=1)
    return start, following


def return_window_closes_at(lead: Lead) -> datetime.datetime:
    return lead.received_at + datetime.timedelta(days=lead.source.return_window_days)


def _allowed_reasons(source: LeadSource) -> list[str]:
    return [reason for reason in ReturnReason.values if reason in source.allowed_return_reasons]


def return_reasons_allowed(*, source: LeadSource) -> list[tuple[str, str]]:
    """The (value, label) reasons this source takes returns for, in the usual order."""
    labels = dict(ReturnReason.choices)
    return [(reason, labels[reason]) for reason in _allowed_reasons(source)]


def _cap_check(source: LeadSource, at: datetime.datetime) -> None:
    start, end = month_bounds(at)
    leads = Lead.objects.filter(source=source, received_at__gte=start, received_at__lt=end).count()
    returns = (
        LeadReturn.objects.filter(source=source, requested_at__gte=start, requested_at__lt=end)
        .exclude(status=ReturnStatus.REJECTED)
        .count()
    )
    allowed = source.return_cap_percent * leads / Decimal(100)
    if returns >= allowed:
        percent = f"{float(source.return_cap_percent):g}%"
        raise ReturnError(
            "lead",
            f"{OVER_RETURN_CAP}: {source.name} takes back at most {percent} "
            f"of a month's leads ({allowed:.1f} of {leads} this month); {returns} "
            "already asked.",
            OVER_RETURN_CAP,
        )


@transaction.atomic
def return_request(
    *,
    lead: Lead,
    reason: str,
    note: str = "",
    origin: str,
    by=None,
    at: datetime.datetime | None = None,
) -> LeadReturn:
    """Ask the lead's source to take it back, within the source's rules; credit its cost."""
    at = at or timezone.now()
    source = lead.source
    if reason not in ReturnReason.values:
        raise ReturnError("reason", f"Choose one of: {', '.join(ReturnReason.values)}.")
    if reason not in source.allowed_return_reasons:
        allowed = ", ".join(_allowed_reasons(source)) or "none"
        raise ReturnError(
            "reason",
            f"{REASON_NOT_ALLOWED}: {source.name} does not take returns for {reason} "
            f"(it takes: {allowed}).",
            REASON_NOT_ALLOWED,
        )
    note = (note or "").strip()
    if problem := unstorable_text_problem(note):
        raise ReturnError("note", problem)
    if len(note) > NOTE_MAX_LENGTH:
        raise ReturnError("note", f"Must be at most {NOTE_MAX_LENGTH:,} characters.")
    closes_at = return_window_closes_at(lead)
    if at > closes_at:
        raise ReturnError(
            "lead",
            f"{OUTSIDE_WINDOW}: {source.name}'s return window of {source.return_window_days} "
            f"day(s) closed at {closes_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC.",
            OUTSIDE_WINDOW,
        )
    if source.return_cap_percent is not None:
        # Locked, so that two requests at once cannot both take the cap's last place.
        LeadSource.objects.select_for_update().filter(pk=source.pk).values_list("pk").first()
        _cap_check(source, at)
    if LeadReturn.objects.filter(lead=lead).exclude(status=ReturnStatus.REJECTED).exists():
        raise ReturnError(
            "lead", f"{ALREADY_RETURNED}: this lead's return was asked already.", ALREADY_RETURNED
        )
    try:
        with transaction.atomic():
            lead_return = LeadReturn.objects.create(
                lead=lead,
                source=source,
                reason=reason,
                note=note,
                credit=lead.cost,
                origin=origin,
                requested_by=by,
                requested_at=at,
            )
    except IntegrityError as error:  # asked at the same moment by someone else
        raise ReturnError(
            "lead", f"{ALREADY_RETURNED}: this lead's return was asked already.", ALREADY_RETURNED
        ) from error
    feedback_event_record(
        lead=lead, type=FeedbackEventType.RETURNED, occurred_at=at, lead_return=lead_return
    )
    return lead_return


def return_mark_sent(*, lead_return: LeadReturn, by=None) -> None:
    """Note that the return was sent to the source (by email, its portal)."""
    updated = LeadReturn.objects.filter(pk=lead_return.pk, status=ReturnStatus.REQUESTED).update(
        status=ReturnStatus.SENT
    )
    if not updated:
        raise ReturnError("status", "Only a requested return can be marked sent.", ALREADY_DECIDED)
    lead_return.status = ReturnStatus.SENT


def _decide(lead_return: LeadReturn, *, status: str, by, at, event_type: str) -> None:
    at = at or timezone.now()
    updated = LeadReturn.objects.filter(pk=lead_return.pk, status__in=UNDECIDED).update(
        status=status, decided_at=at, decided_by=by
    )
    if not updated:
        raise ReturnError("status", "This return was decided already.", ALREADY_DECIDED)
    lead_return.status, lead_return.decided_at, lead_return.decided_by = status, at, by
    lead = Lead.objects.select_related("source").get(pk=lead_return.lead_id)
    if status == ReturnStatus.ACCEPTED and lead.status != LeadStatus.RETURNED:
        # Returned is final: the lead leaves every queue, and is never contacted again.
        lead.status = LeadStatus.RETURNED
        lead._change_reason = "Returned to its source"
        lead.save(update_fields=["status", "updated_at"])
        lead.touches.filter(status=TouchStatus.SCHEDULED).update(
            status=TouchStatus.CANCELLED, status_note="The lead was returned to its source."
        )
    feedback_event_record(lead=lead, type=event_type, occurred_at=at, lead_return=lead_return)


@transaction.atomic
def return_accept(*, lead_return: LeadReturn, by=None, at=None) -> None:
    """The source took the lead back: credit it, and close the lead for good."""
    _decide(
        lead_return,
        status=ReturnStatus.ACCEPTED,
        by=by,
        at=at,
        event_type=FeedbackEventType.RETURN_ACCEPTED,
    )


@transaction.atomic
def return_reject(*, lead_return: LeadReturn, by=None, at=None) -> None:
    """The source refused to take the lead back; it may be asked again."""
    _decide(
        lead_return,
        status=ReturnStatus.REJECTED,
        by=by,
        at=at,
        event_type=FeedbackEventType.RETURN_REJECTED,
    )


def _auto_return(lead: Lead, reason: str) -> LeadReturn | None:
    try:
        return return_request(lead=lead, reason=reason, origin=ReturnOrigin.AUTO)
    except ReturnError as error:
        logger.info("Lead #%s not returned automatically (%s): %s", lead.pk, reason, error)
        return None


def returns_auto_for_duplicate(*, lead: Lead) -> LeadReturn | None:
    """Return a duplicate lead, when its source takes duplicates back automatically."""
    if lead.duplicate_of_id is None or not lead.source.auto_return_duplicates:
        return None
    return _auto_return(lead, ReturnReason.DUPLICATE)


def returns_auto_for_invalid(*, lead: Lead) -> LeadReturn | None:
    """Return a lead whose number proved invalid, when its source takes those back
    automatically."""
    if not lead.source.auto_return_invalid:
        return None
    return _auto_return(lead, ReturnReason.BAD_NUMBER)
