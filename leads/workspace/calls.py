"""A rep's calls: asked of the gate before dialling, logged, and closed with an outcome that
acts on the lead (its status, its conversions, a callback, an opt-out) and on its place in
the queue. Also the rep's other actions on a lead: notes, callbacks, do-not-contact.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from compliance.gate import Decision, contact_check
from compliance.models import DecisionStage, Purpose, SuppressionOrigin, SuppressionScope
from compliance.suppressions import stop_request_record, suppression_add
from leads.choices import Channel
from leads.feedback.returns import returns_auto_for_invalid
from leads.lifecycle import ConversionError, conversion_record, has_conversion, status_advance
from leads.models import (
    ContactAttempt,
    ConversionKind,
    ConversionOrigin,
    Direction,
    Disposition,
    Lead,
    LeadNote,
    LeadStatus,
    Touch,
    TouchStatus,
)
from leads.models.lead import OPEN_STATUSES
from leads.scoring import lead_rescore
from leads.workspace.queue import leads_queue_refresh

# Outcomes of a call in which the rep spoke with the person.
SPOKE_WITH_THEM = frozenset(
    {
        Disposition.CONTACTED,
        Disposition.APPOINTMENT_SET,
        Disposition.SALE,
        Disposition.NOT_INTERESTED,
        Disposition.CALLBACK_REQUESTED,
        Disposition.DO_NOT_CONTACT,
    }
)
STATUS_OF_OUTCOME = {
    Disposition.NO_ANSWER: LeadStatus.WORKING,
    Disposition.VOICEMAIL: LeadStatus.WORKING,
    Disposition.BUSY: LeadStatus.WORKING,
    Disposition.BAD_NUMBER: LeadStatus.INVALID,
    Disposition.CONTACTED: LeadStatus.CONTACTED,
    Disposition.CALLBACK_REQUESTED: LeadStatus.CONTACTED,
    Disposition.APPOINTMENT_SET: LeadStatus.APPOINTMENT,
    Disposition.SALE: LeadStatus.WON,
    Disposition.NOT_INTERESTED: LeadStatus.LOST,
    Disposition.DO_NOT_CONTACT: LeadStatus.DO_NOT_CONTACT,
}
# A call this long before a callback's time still answers it.
CALLBACK_EARLY = datetime.timedelta(minutes=15)
CALLBACK_HORIZON = datetime.timedelta(days=90)


class ActionError(ValueError):
    """An action a rep asked for that cannot be done; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@transaction.atomic
def call_start(*, lead: Lead, rep) -> tuple[Decision, ContactAttempt | None]:
    """Ask the gate before a rep dials; log the call attempt when it is allowed."""
    decision, record = contact_check(
        lead=lead,
        channel=Channel.CALL,
        stage=DecisionStage.MANUAL,
        purpose=Purpose.MARKETING,
        automated=False,
        requested_by=rep,
    )
    if not decision.allowed:
        return decision, None
    attempt = call_attempt_record(lead=lead, rep=rep)
    record.attempt = attempt
    record.save(update_fields=["attempt"])
    return decision, attempt


def call_attempt_record(
    *, lead: Lead, rep, notes: str = "", touch: Touch | None = None
) -> ContactAttempt:
    """Log a call to the lead the gate has allowed, as it starts; call inside a transaction.

    The call answers `touch` (a lead-to-call bridge placing it) or else the lead's callback
    or call task that is due (or nearly); it stops the lead's speed-to-lead clock and moves
    it down the queue.
    """
    attempt = ContactAttempt.objects.create(
        lead=lead, channel=Channel.CALL, direction=Direction.OUTBOUND, rep=rep, notes=notes
    )
    # Speed to lead counts the first time a rep dialled; only the first call sets it.
    Lead.objects.filter(pk=lead.pk, first_attempt_at__isnull=True).update(
        first_attempt_at=attempt.started_at
    )
    Lead.objects.filter(pk=lead.pk).update(
        last_attempt_at=attempt.started_at, sla_due_at=None, sla_next_at=None
    )
    lead.refresh_from_db(fields=["first_attempt_at", "last_attempt_at", "sla_due_at"])
    lead_rescore(lead=lead)  # an event: the score's factors may have moved
    if touch is not None:
        touch.attempt = attempt
        touch.save(update_fields=["attempt"])
    elif due := (
        Touch.objects.filter(
            lead=lead,
            channel=Channel.CALL,
            status=TouchStatus.SCHEDULED,
            due_at__lte=attempt.started_at + CALLBACK_EARLY,
        )
        .order_by("due_at")
        .first()
    ):
        due.status, due.attempt = TouchStatus.DONE, attempt
        due.save(update_fields=["status", "attempt"])
    leads_queue_refresh(leads=[lead])
    return attempt


def _aware_future(moment: datetime.datetime | None, *, field: str) -> datetime.datetime:
    now = timezone.now()
    if moment is None:
        raise ActionError(field, "Say when to call back.")
    if timezone.is_naive(moment):
        raise ActionError(field, "The time needs its zone.")
    if moment <= now:
        raise ActionError(field, "Choose a time in the future.")
    if moment > now + CALLBACK_HORIZON:
        raise ActionError(field, "Choose a time within 90 days.")
    return moment


@transaction.atomic
def callback_schedule(*, lead: Lead, due_at: datetime.datetime, rep, note: str = "") -> Touch:
    """Plan a call to the lead at the time they asked for; it replaces a pending callback.

    At its time the lead goes to the top of its rep's queue (or when the gate next allows a
    call after it, if that time is outside the lead's calling hours).
    """
    due_at = _aware_future(due_at, field="callback_at")
    if lead.status not in OPEN_STATUSES:
        raise ActionError("callback_at", f"The lead is {lead.get_status_display().lower()}.")
    Touch.objects.filter(
        lead=lead, channel=Channel.CALL, status=TouchStatus.SCHEDULED, created_by__isnull=False
    ).update(status=TouchStatus.CANCELLED, status_note="Replaced by a later callback.")
    touch = Touch.objects.create(
        lead=lead,
        channel=Channel.CALL,
        automated=False,
        body=note.strip() or "Callback requested.",
        due_at=due_at,
        created_by=rep,
    )
    leads_queue_refresh(leads=[lead])
    return touch


@transaction.atomic
def call_outcome_record(
    *,
    attempt: ContactAttempt,
    disposition: str,
    notes: str,
    rep,
    callback_at: datetime.datetime | None = None,
    revenue: Decimal | None = None,
) -> None:
    """Record how a rep's call ended, and act on it.

    Speaking with the person sets `first_contact_at` and records a "contacted" conversion
    (once per lead); an appointment and a sale record theirs (a sale with its revenue);
    "callback requested" plans the callback; "do not contact" records the opt-out; the
    lead's status moves forward (`leads.lifecycle.status_after`).
    """
    if disposition not in Disposition.values:
        raise ActionError("disposition", "Choose how the call ended.")
    if disposition == Disposition.CALLBACK_REQUESTED:
        callback_at = _aware_future(callback_at, field="callback_at")
    if disposition == Disposition.SALE and revenue is None:
        raise ActionError("revenue", "A sale needs its revenue.")
    lead = Lead.objects.select_for_update().get(pk=attempt.lead_id)
    attempt.disposition = disposition
    attempt.notes = notes
    attempt.ended_at = attempt.ended_at or max(timezone.now(), attempt.started_at)
    attempt.save()
    try:
        if disposition in SPOKE_WITH_THEM and not has_conversion(
            lead=lead, kind=ConversionKind.CONTACTED
        ):
            conversion_record(
                lead=lead,
                kind=ConversionKind.CONTACTED,
                origin=ConversionOrigin.REP,
                occurred_at=attempt.started_at,
                recorded_by=rep,
                attempt=attempt,
            )
        if disposition == Disposition.APPOINTMENT_SET:
            conversion_record(
                lead=lead,
                kind=ConversionKind.APPOINTMENT,
                origin=ConversionOrigin.REP,
                occurred_at=attempt.started_at,
                recorded_by=rep,
                attempt=attempt,
            )
        if disposition == Disposition.SALE:
            conversion_record(
                lead=lead,
                kind=ConversionKind.SALE,
                origin=ConversionOrigin.REP,
                revenue=revenue,
                occurred_at=attempt.started_at,
                recorded_by=rep,
                attempt=attempt,
            )
    except ConversionError as error:
        raise ActionError(error.field, str(error)) from error
    status_advance(lead=lead, target=STATUS_OF_OUTCOME[disposition])
    lead_rescore(lead=lead)  # before the queue refresh below, which reads the score
    if disposition == Disposition.DO_NOT_CONTACT:
        stop_request_record(lead=lead, kind="verbal", recorded_by=rep)
    if disposition == Disposition.BAD_NUMBER:
        returns_auto_for_invalid(lead=lead)
    if disposition == Disposition.CALLBACK_REQUESTED and lead.status in OPEN_STATUSES:
        callback_schedule(lead=lead, due_at=callback_at, rep=rep, note=notes)
    elif lead.status in OPEN_STATUSES:
        leads_queue_refresh(leads=[lead])
    else:
        _pending_calls_cancel(lead, why=f"The lead is {lead.get_status_display().lower()}.")


def _pending_calls_cancel(lead: Lead, *, why: str) -> None:
    Touch.objects.filter(lead=lead, channel=Channel.CALL, status=TouchStatus.SCHEDULED).update(
        status=TouchStatus.CANCELLED, status_note=why
    )


def note_add(*, lead: Lead, author, body: str) -> LeadNote:
    """Keep a note on the lead."""
    body = body.strip()
    if not body:
        raise ActionError("body", "Write the note first.")
    if len(body) > 4000:
        raise ActionError("body", "A note has at most 4,000 characters.")
    return LeadNote.objects.create(lead=lead, author=author, body=body)


@transaction.atomic
def do_not_contact_mark(*, lead: Lead, rep) -> None:
    """The lead asked not to be contacted: record the opt-out of every channel it has and
    close the lead; pending calls are cancelled."""
    for field_name in ("phone", "email"):
        if address := str(getattr(lead, field_name) or ""):
            suppression_add(
                origin=SuppressionOrigin.REP,
                scope=SuppressionScope.ALL,
                reason="Asked not to be contacted",
                lead=lead,
                recorded_by=rep,
                **{field_name: address},
            )
    status_advance(lead=lead, target=LeadStatus.DO_NOT_CONTACT)
    _pending_calls_cancel(lead, why="The lead asked not to be contacted.")
