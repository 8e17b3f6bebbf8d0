"""Outbound texts and emails to leads: every one passes the compliance gate.

A touch is decided twice: when it is scheduled (blocked touches are never queued; deferred
ones wait for the instant the gate names) and again at the moment of sending, so an opt-out
recorded while a touch waits stops it. (A rep's call is decided before it is logged, in
leads.workspace.calls.) Besides
the replies to inbound texts (compliance.replies, decided the same way), nothing else in
Leadline calls an SMS or email provider.
"""

import datetime
import logging
from email.utils import make_msgid

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from compliance.gate import Decision, contact_check
from compliance.models import DecisionStage, Purpose
from compliance.unsubscribe import list_unsubscribe_headers, marketing_email_footer
from crm.sms import SmsError, SmsTemporaryError, send_sms
from leads.cadence_conditions import cadence_skip_reason
from leads.choices import Channel
from leads.models import SENT_CHANNELS, ContactAttempt, Direction, Lead, Touch, TouchStatus

logger = logging.getLogger(__name__)

# A touch handed to a send task that has not started within this long is queued again.
REQUEUE_AFTER = datetime.timedelta(minutes=10)
# How many due touches one tick of the clock hands out.
DISPATCH_BATCH = 500
# Queued by name: the tasks module calls this one.
SEND_TASK = "leads.tasks.send_touch"
SMS_OPT_OUT_HINT = "Reply STOP to opt out."


def decision_explained(decision: Decision) -> str:
    """The decision's reasons as one sentence a rep can read."""
    return " ".join(reason.message for reason in decision.reasons)


@transaction.atomic
def touch_schedule(
    *,
    lead: Lead,
    channel: str,
    body: str,
    subject: str = "",
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
    due_at: datetime.datetime | None = None,
    created_by=None,
    cadence_step=None,
) -> Touch:
    """Plan a text or email to a lead; the gate decides now whether and when it may go.

    Returns the touch: queued to send when due and allowed, scheduled for the first allowed
    instant when the gate defers it, or blocked (never sent) when no later instant helps.
    """
    if channel not in (Channel.SMS, Channel.EMAIL):
        raise ValueError("Only texts and emails are sent as touches; calls are dialled by reps.")
    now = timezone.now()
    touch = Touch.objects.create(
        lead=lead,
        channel=channel,
        purpose=purpose,
        automated=automated,
        subject=subject,
        body=body,
        due_at=max(due_at or now, now),
        created_by=created_by,
        cadence_step=cadence_step,
    )
    decision, _ = contact_check(
        lead=lead,
        channel=channel,
        stage=DecisionStage.SCHEDULED,
        at=touch.due_at,
        purpose=purpose,
        automated=automated,
        touch=touch,
        requested_by=created_by,
    )
    _follow(touch, decision, now=now)
    return touch


def _follow(touch: Touch, decision: Decision, *, now: datetime.datetime) -> None:
    """Queue, defer or block the touch as the gate decided; save it."""
    if decision.allowed:
        touch.status_note = ""
        if touch.due_at <= now:
            _queue([touch], now=now)
            return
        touch.status = TouchStatus.SCHEDULED
    elif decision.next_allowed_at is not None:
        touch.status = TouchStatus.SCHEDULED
        touch.due_at = decision.next_allowed_at
        touch.deferrals += 1
        touch.status_note = f"Waiting until allowed. {decision_explained(decision)}"
    else:
        touch.status = TouchStatus.BLOCKED
        touch.status_note = decision_explained(decision)
        logger.info("Touch %s blocked: %s", touch.pk, ", ".join(decision.codes))
    touch.save()


def _queue(touches: list[Touch], *, now: datetime.datetime) -> None:
    """Hand touches to send tasks once this transaction commits."""

    for touch in touches:
        touch.status = TouchStatus.QUEUED
        touch.queued_at = now
        touch.save(update_fields=["status", "queued_at", "status_note", "due_at"])
        transaction.on_commit(
            lambda pk=touch.pk: current_app.signature(SEND_TASK, args=[pk]).delay()
        )


def due_touches_dispatch(*, now: datetime.datetime | None = None) -> int:
    """One tick of the clock: queue the touches that are due; return how many.

    Rows are claimed with SKIP LOCKED, so two clocks never hand out the same touch. A touch
    queued long ago whose task never ran (its queue message was lost) is queued again; the
    send task's own claim makes a second message harmless.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Touch.objects.select_for_update(skip_locked=True)
            .filter(status=TouchStatus.SCHEDULED, channel__in=SENT_CHANNELS, due_at__lte=now)
            .order_by("due_at")[:DISPATCH_BATCH]
        )
        lost = list(
            Touch.objects.select_for_update(skip_locked=True)
            .filter(
                status=TouchStatus.QUEUED,
                channel__in=SENT_CHANNELS,  # a queued call is a bridge: leads.voice.bridge
                queued_at__lte=now - REQUEUE_AFTER,
            )
            .order_by("queued_at")[:DISPATCH_BATCH]
        )
        _queue(due + lost, now=now)
    return len(due) + len(lost)


def touch_send(*, touch_id: int) -> Touch | None:
    """Send one queued touch if the gate allows it at this moment; else defer or block it.

    Returns the touch, or None when another task has it or it is no longer queued.
    """
    now = timezone.now()
    with transaction.atomic():
        touch = (
            Touch.objects.select_for_update(skip_locked=True)
            .select_related("lead")
            .filter(pk=touch_id, status=TouchStatus.QUEUED)
            .first()
        )
        if touch is None:
            return None
        if (skip := cadence_skip_reason(touch=touch)) is not None:
            touch.status, touch.status_note = TouchStatus.SKIPPED, skip
            touch.save(update_fields=["status", "status_note"])
            return touch
        decision, record = contact_check(
            lead=touch.lead,
            channel=touch.channel,
            stage=DecisionStage.SENDING,
            at=now,
            purpose=touch.purpose,
            automated=touch.automated,
            touch=touch,
        )
        if not decision.allowed:
            _follow(touch, decision, now=now)
            return touch
        touch.status = TouchStatus.SENDING
        touch.save(update_fields=["status"])
    # Outside the transaction: a slow provider must not hold the row lock or a connection.
    try:
        message_id = _deliver(touch)
    except SmsTemporaryError as error:
        _send_failed(touch, note=f"Provider busy, will retry: {error}", retry=True)
        raise
    except (SmsError, OSError) as error:  # refused for good (SMTP errors are OSErrors)
        _send_failed(touch, note=f"Not sent: {error}", retry=False)
        logger.warning("Touch %s failed: %s", touch.pk, error)
        return touch
    with transaction.atomic():
        attempt = ContactAttempt.objects.create(
            lead=touch.lead,
            channel=touch.channel,
            direction=Direction.OUTBOUND,
            rep=touch.created_by,
            started_at=now,
            notes=touch.subject or touch.body[:200],
        )
        record.attempt = attempt
        record.save(update_fields=["attempt"])
        touch.status = TouchStatus.SENT
        touch.sent_at = timezone.now()
        touch.attempt = attempt
        touch.provider_message_id = message_id[:100]
        touch.save(update_fields=["status", "sent_at", "attempt", "provider_message_id"])
    logger.info("Touch %s sent (%s).", touch.pk, message_id)
    return touch


def _send_failed(touch: Touch, *, note: str, retry: bool) -> None:
    touch.status = TouchStatus.QUEUED if retry else TouchStatus.FAILED
    touch.status_note = note
    touch.save(update_fields=["status", "status_note"])


def _deliver(touch: Touch) -> str:
    """Hand the touch to its provider; return the provider's message id."""
    lead = touch.lead
    marketing = touch.purpose == Purpose.MARKETING
    if touch.channel == Channel.SMS:
        body = touch.body
        if marketing and "STOP" not in body.upper():
            body = f"{body} {SMS_OPT_OUT_HINT}"
        return send_sms(to=str(lead.phone), body=body)
    body, headers = touch.body, {"Message-ID": make_msgid(domain="leadline")}
    if marketing:
        body = f"{body}\n\n{marketing_email_footer(email=lead.email, lead_id=lead.pk)}"
        headers |= list_unsubscribe_headers(email=lead.email, lead_id=lead.pk)
    EmailMessage(
        subject=touch.subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[lead.email],
        headers=headers,
    ).send()
    return headers["Message-ID"]
