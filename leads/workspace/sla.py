"""Speed-to-lead: each new lead must be called by a rep within its source's SLA.

The clock starts when the lead arrives, or when its calling hours open if it arrived outside
them; a rep's first call stops it (automated texts and emails do not count).

A lead still not called escalates, one step per SLA's length (the source's `sla_minutes`),
each step once, recorded in `Lead.sla_stage`:

1. at `sla_due_at` its rep is alerted (a lead in the pool has no rep: it goes to step 2);
2. one SLA later it is given to the next rep routing finds eligible, never its rep again,
   and that rep is alerted; when nobody is eligible it stays where it is, and its rep is
   told so;
3. one SLA after that the managers are alerted and sent one email.

The clock runs the steps (`sla_escalate`): leads are claimed with `SKIP LOCKED`, and each
step is decided from the claimed row's stage, so two clocks never fire a step twice, and a
lead the clock missed for a while goes through every step it missed in one tick. The same
tick moves leads whose SLA is about to break to the front of "next lead".
"""

import datetime
import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from crm.roles import MANAGER
from leads.models import AlertKind, AssignmentReason, Lead
from leads.models.lead import OPEN_STATUSES
from leads.templatetags.lead_time import duration_text
from leads.workspace.alerts import alert_create
from leads.workspace.queue import (
    REFRESH_BATCH,
    SLA_BREAKING,
    SLA_LAST_STEP,
    SLA_WARNING,
    leads_queue_refresh,
)
from leads.workspace.routing import lead_assign, rep_for_lead

REP_ALERTED, REASSIGNED, MANAGERS_ALERTED = 1, 2, SLA_LAST_STEP
ESCALATION_BATCH = 100


def sla_clock_start(*, lead: Lead, sla_minutes: int) -> None:
    """Set when the lead's first call is due, from its stored calling window."""
    if lead.first_attempt_at is not None or lead.callable_at is None:
        due = None
    else:
        due = max(lead.received_at, lead.callable_at) + datetime.timedelta(minutes=sla_minutes)
    lead.sla_due_at = lead.sla_next_at = due
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=due, sla_next_at=due)


def sla_next_step_at(*, lead: Lead) -> datetime.datetime | None:
    """When the lead's next escalation step falls due (one SLA's length after the one
    before); None once the last step has fired or no SLA runs."""
    if lead.sla_due_at is None or lead.sla_stage >= MANAGERS_ALERTED:
        return None
    return lead.sla_due_at + lead.sla_stage * datetime.timedelta(minutes=lead.source.sla_minutes)


def _sla_due(*, until: datetime.datetime):
    # Exactly the partial index lead_sla_due_idx's condition, plus the bound.
    return Lead.objects.filter(
        status__in=OPEN_STATUSES,
        sla_due_at__isnull=False,
        sla_stage__lt=MANAGERS_ALERTED,
        sla_due_at__lte=until,
    )


def sla_escalate(*, now: datetime.datetime | None = None) -> int:
    """One clock tick: refresh the queue place of leads whose SLA is about to break, then
    escalate every lead whose next step is due; return how many leads were escalated."""
    now = now or timezone.now()
    sla_warnings_refresh(now=now)
    escalated = 0
    after: tuple[datetime.datetime, int] | None = None
    while True:
        with transaction.atomic():
            batch = _escalation_batch(now=now, after=after)
            if batch:  # where this batch ended, before its steps move each lead's next one
                after = (batch[-1].sla_next_at, batch[-1].pk)
            for lead in batch:
                escalated += lead_sla_escalate(lead=lead, now=now)
        if len(batch) < ESCALATION_BATCH:
            return escalated


def _escalation_batch(*, now: datetime.datetime, after) -> list[Lead]:
    """Claim the next leads past due and not escalated to the last step, soonest due first,
    after `after` (the last one this tick saw: a lead with no step due yet is passed once)."""
    # Only leads with a step due (lead_sla_next_idx): a lead between two steps is not read.
    leads = Lead.objects.filter(status__in=OPEN_STATUSES, sla_next_at__lte=now)
    if after is not None:
        due, pk = after
        leads = leads.filter(sla_next_at__gte=due).filter(Q(sla_next_at__gt=due) | Q(pk__gt=pk))
    return list(
        leads.select_for_update(skip_locked=True, of=("self",))
        .select_related("source", "owner")
        .order_by("sla_next_at", "pk")[:ESCALATION_BATCH]
    )


def sla_stage_due(*, lead: Lead, now: datetime.datetime) -> int:
    """The stage the lead should have reached at `now`: one more each SLA's length after
    `sla_due_at`, up to the last."""
    late = now - lead.sla_due_at
    if late < datetime.timedelta(0):
        return 0
    gap = datetime.timedelta(minutes=lead.source.sla_minutes)
    if not gap:
        return MANAGERS_ALERTED
    return min(MANAGERS_ALERTED, REP_ALERTED + late // gap)


def lead_sla_escalate(*, lead: Lead, now: datetime.datetime) -> bool:
    """Fire each step the lead has reached and not yet had; False when none was due.

    Call inside a transaction, with the lead locked: its stored stage says which steps
    have fired, so none fires twice.
    """
    due = sla_stage_due(lead=lead, now=now)
    if lead.sla_stage >= due:
        if lead.sla_next_at != (next_at := sla_next_step_at(lead=lead)):
            lead.sla_next_at = next_at  # its SLA moved (a new window, a changed source)
            Lead.objects.filter(pk=lead.pk).update(sla_next_at=next_at)
        return False
    while lead.sla_stage < due:
        if lead.sla_stage < REP_ALERTED and lead.owner_id is not None:
            _rep_alert(lead=lead, now=now)
            lead.sla_stage = REP_ALERTED
        elif lead.sla_stage < REASSIGNED:
            _sla_reassign(lead=lead, now=now)
            lead.sla_stage = REASSIGNED
        else:
            _managers_alert(lead=lead, now=now)
            lead.sla_stage = MANAGERS_ALERTED
    # No history row: the alerts and the assignment record what happened.
    lead.sla_next_at = sla_next_step_at(lead=lead)
    Lead.objects.filter(pk=lead.pk).update(sla_stage=lead.sla_stage, sla_next_at=lead.sla_next_at)
    if lead.sla_stage == MANAGERS_ALERTED:
        leads_queue_refresh(leads=[lead], at=now)  # its SLA band ends with the last step
    return True


def _lead_name(lead: Lead) -> str:
    return lead.full_name or f"Lead #{lead.pk}"


def _rep_alert(*, lead: Lead, now: datetime.datetime) -> None:
    late = duration_text(now - lead.sla_due_at)
    alert_create(
        user=lead.owner,
        lead=lead,
        kind=AlertKind.SLA_BREACHED,
        message=f"{_lead_name(lead)} ({lead.source.name}) was due a call {late} ago. "
        "Call now, before it goes to another rep.",
    )


def _sla_reassign(*, lead: Lead, now: datetime.datetime) -> None:
    """Give the lead to the next eligible rep (never its rep again) and alert them; when
    nobody is eligible it stays, and its rep (if any) is told so."""
    late = duration_text(now - lead.sla_due_at)
    exclude = [lead.owner_id] if lead.owner_id is not None else []
    rep = rep_for_lead(lead=lead, at=now, exclude=exclude)
    if rep is None:
        if lead.owner is not None:
            alert_create(
                user=lead.owner,
                lead=lead,
                kind=AlertKind.SLA_BREACHED,
                message=f"{_lead_name(lead)} ({lead.source.name}) is {late} past its "
                "speed-to-lead SLA. No other rep may take it now, so it stays yours: "
                "call now.",
            )
        return
    lead_assign(
        lead=lead,
        rep_user=rep.user,
        reason=AssignmentReason.SLA,
        note=f"not called {late} after its SLA",
    )
    alert_create(
        user=rep.user,
        lead=lead,
        kind=AlertKind.SLA_REASSIGNED,
        message=f"{_lead_name(lead)} ({lead.source.name}) is now yours: it is {late} past "
        "its speed-to-lead SLA and nobody has called yet. Call now.",
    )


def sla_managers():
    """The people told when a lead is still not called after reassignment: active users in
    the Manager group, and active staff who may change leads (superusers among them)."""
    users = get_user_model().objects
    may_change = users.with_perm(
        "leads.change_lead", backend="django.contrib.auth.backends.ModelBackend"
    ).filter(is_staff=True)
    return (
        users.filter(Q(groups__name=MANAGER) | Q(pk__in=may_change.values("pk")), is_active=True)
        .distinct()
        .order_by("pk")
    )


def lead_admin_url(*, lead: Lead) -> str:
    """The lead's page in the admin, absolute when SITE_URL is set."""
    return f"{settings.SITE_URL}{reverse('admin:leads_lead_change', args=[lead.pk])}"


def _managers_alert(*, lead: Lead, now: datetime.datetime) -> None:
    """Alert every manager, and send them one email once the escalation is committed (an
    email is never sent for one rolled back, nor held up waiting for the mail server)."""
    late = duration_text(now - lead.sla_due_at)
    holder = f"with {lead.owner.get_full_name() or lead.owner}" if lead.owner else "in the pool"
    message = (
        f"{_lead_name(lead)} ({lead.source.name}) is still not called {late} after its "
        f"speed-to-lead SLA, even after reassignment; it is {holder}."
    )
    managers = list(sla_managers())
    for manager in managers:
        alert_create(user=manager, lead=lead, kind=AlertKind.SLA_MANAGERS, message=message)
    recipients = [manager.email for manager in managers if manager.email]
    if not recipients:
        return
    body = "\n".join(
        [
            "A lead is still not called, even after it was alerted to its rep and reassigned.",
            "",
            f"Lead: {_lead_name(lead)}",
            f"Source: {lead.source.name}",
            f"Late: {late} past its {lead.source.sla_minutes}-minute speed-to-lead SLA",
            f"Now: {holder}",
            "",
            f"Open it: {lead_admin_url(lead=lead)}",
        ]
    )
    transaction.on_commit(
        functools.partial(
            send_mail,
            subject=f"Speed-to-lead: {_lead_name(lead)} not called, {late} late",
            message=body,
            from_email=None,
            recipient_list=recipients,
        ),
        robust=True,
    )


def sla_warnings_refresh(*, now: datetime.datetime | None = None) -> int:
    """Refresh the queue place of leads never called whose SLA breaks within SLA_WARNING,
    not refreshed since they came that close, so "next lead" takes them first; return how
    many. A batch per tick; leads being called (locked) are left for the next tick."""
    now = now or timezone.now()
    with transaction.atomic():
        leads = list(
            _sla_due(until=now + SLA_WARNING)
            .filter(priority__lt=SLA_BREAKING, first_attempt_at__isnull=True)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("sla_due_at")[:REFRESH_BATCH]
        )
        return leads_queue_refresh(leads=leads, at=now)
