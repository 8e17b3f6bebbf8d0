"""Outbound texts and emails to leads: every one passes the compliance gate.

A touch is decided twice: when it is scheduled (blocked touches are never queued; deferred
ones wait for the instant the gate names) and again at the moment of sending, so an opt-out
recorded while a touch waits stops it. (A rep's call is decided before it is logged, in
leads.workspace.calls.) Besides
the replies to inbound texts (compliance.replies, decided the same way), nothing else in
Leadline calls an SMS or email provider. The sending path is leads.cadences.outbound.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from compliance.gate import contact_check
from compliance.models import DecisionStage, Purpose
from leads.cadences.outbound import (
    decision_explained,
    due_touches_dispatch,
    touch_follow,
    touch_send,
    touches_send,
)
from leads.choices import Channel
from leads.models import Lead, Touch

# The sending path lives in leads.cadences.outbound; these names are kept for callers.
__all__ = [
    "decision_explained",
    "due_touches_dispatch",
    "touch_schedule",
    "touch_send",
    "touches_send",
]


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
    touch_follow(touch, decision, now=now)
    return touch
