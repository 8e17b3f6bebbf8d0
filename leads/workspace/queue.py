"""The rep's queue: which lead "next lead" gives, claimed safely under concurrency.

Each open lead keeps its calling window, from when the gate next allows a rep's call
(`callable_at`) until those hours close (`callable_until`), and where it stands: a band
(`priority`) and its order within it (`queue_at`, earliest first):

- a callback the lead asked for, once due (longest overdue first);
- a cadence's call task, once due, for a lead called before (a lead never called is already
  near the top, by score);
- a lead never called whose speed-to-lead SLA is about to break, then the other leads never
  called (highest score first, then the oldest);
- the rest, by when they are next due (the last call's time, or a cadence's call task).

So the claim is one indexed `SELECT ... FOR UPDATE SKIP LOCKED` over the rep's own leads and
the unassigned pool, never a question to the gate row by row. The gate is asked once more
for the claimed lead; if its answer changed (an opt-out, a cap reached), the lead's window
moves to the gate's next allowed instant and the next one is taken. Windows are stored anew
when a lead's facts change (a call, a callback, a disposition) and by the clock once they
close.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from compliance.gate import decide_many
from leads.choices import Channel
from leads.models import AssignmentReason, Lead, Touch, TouchStatus
from leads.models.lead import OPEN_STATUSES
from leads.workspace.routing import lead_assign

CALLBACK_DUE = 4000
CALL_TASK_DUE = 3900
SLA_BREAKING = 3000
NEVER_ATTEMPTED = 2000
ATTEMPTED = 1000
# A lead never called moves to the front this long before its SLA breaks.
SLA_WARNING = datetime.timedelta(minutes=1)
SLA_LAST_STEP = 3  # leads.workspace.sla: managers alerted
CLAIM_TRIES = 5
REFRESH_BATCH = 1000


@dataclass(frozen=True)
class Standing:
    priority: int
    queue_at: datetime.datetime
    why: str


def lead_standing(
    *,
    lead: Lead,
    at: datetime.datetime,
    call_due_at: datetime.datetime | None,
    callback: bool,
    call_task: bool = False,
) -> Standing:
    """Where the lead stands in the queue at `at`, and why, in words a rep reads."""
    # A callback goes on top once due; before, the lead is not offered at all (its window
    # opens at the callback's time) and it waits in its usual band, where it costs the
    # claim's index walk nothing. The clock moves it up when it comes due.
    if call_due_at is not None and callback and call_due_at <= at:
        return Standing(CALLBACK_DUE, call_due_at, "callback they asked for")
    if lead.first_attempt_at is None:
        # About to break, or broken and still being escalated; once the managers are told
        # (the last step) it waits by score again, behind leads whose SLA can still be met.
        if (
            lead.sla_due_at is not None
            and lead.sla_stage < SLA_LAST_STEP
            and lead.sla_due_at <= at + SLA_WARNING
        ):
            return Standing(SLA_BREAKING + lead.score, lead.received_at, "SLA about to break")
        return Standing(NEVER_ATTEMPTED + lead.score, lead.received_at, "never called")
    if call_due_at is not None and call_task and call_due_at <= at:
        return Standing(CALL_TASK_DUE, call_due_at, "cadence call due")
    if call_due_at is not None:
        return Standing(ATTEMPTED, call_due_at, "follow-up call due")
    return Standing(ATTEMPTED, lead.last_attempt_at or lead.received_at, "called before")


def pending_calls(*, lead_ids: Iterable[int]) -> dict[int, tuple[datetime.datetime, bool, bool]]:
    """Each lead's earliest scheduled call for its rep to make: its due time, whether it is a
    callback (a rep scheduled it), and whether it is a cadence's call task. A bridge call
    (automated) is placed by the system, not the rep, and is not counted."""
    first: dict[int, tuple[datetime.datetime, bool, bool]] = {}
    rows = (
        Touch.objects.filter(
            lead_id__in=list(lead_ids),
            channel=Channel.CALL,
            status=TouchStatus.SCHEDULED,
            automated=False,
        )
        .order_by("lead_id", "due_at")
        .values_list("lead_id", "due_at", "created_by_id", "cadence_step_id")
    )
    for lead_id, due_at, created_by_id, step_id in rows:
        first.setdefault(lead_id, (due_at, created_by_id is not None, step_id is not None))
    return first


def leads_queue_refresh(*, leads: Iterable[Lead], at: datetime.datetime | None = None) -> int:
    """Store each lead's place in the queue and its calling window, asking the gate once for
    them all; return how many were refreshed.

    A lead with a callback is not offered before the callback's time: its window opens then
    (or when the gate next allows it after that).
    """
    leads = list(leads)
    at = at or timezone.now()
    calls = pending_calls(lead_ids=[lead.pk for lead in leads])
    requests = []
    for lead in leads:
        due, callback, _ = calls.get(lead.pk, (None, False, False))
        requests.append((lead, Channel.CALL, max(at, due) if callback else at))
    decisions = decide_many(requests, automated=False)
    for (lead, _, when), decision in zip(requests, decisions, strict=True):
        due, callback, call_task = calls.get(lead.pk, (None, False, False))
        lead.callable_at = when if decision.allowed else decision.next_allowed_at
        lead.callable_until = decision.window_ends_at if lead.callable_at else None
        standing = lead_standing(
            lead=lead, at=at, call_due_at=due, callback=callback, call_task=call_task
        )
        lead.priority, lead.queue_at = standing.priority, standing.queue_at
    Lead.objects.bulk_update(leads, ["callable_at", "callable_until", "priority", "queue_at"])
    return len(leads)


def stale_windows_refresh(*, at: datetime.datetime | None = None) -> int:
    """The clock: refresh open leads whose calling window has closed, and those never queued
    yet (priority 0: stored before the queue, or by the demo), a batch per tick."""
    at = at or timezone.now()
    open_leads = Lead.objects.filter(status__in=OPEN_STATUSES)
    # Two indexed reads (lead_window_closes_idx, lead_unqueued_idx) rather than one OR,
    # which would walk every open window to reach the leads never queued.
    closed = list(
        open_leads.filter(callable_until__lte=at).order_by("callable_until")[:REFRESH_BATCH]
    )
    never = list(
        open_leads.filter(priority=0).order_by("received_at")[: REFRESH_BATCH - len(closed)]
    )
    return leads_queue_refresh(leads=closed + never, at=at)


def _claimable(rep_user, at: datetime.datetime):
    return Lead.objects.filter(
        Q(owner=rep_user) | Q(owner__isnull=True),
        Q(callable_until__isnull=True) | Q(callable_until__gt=at),
        status__in=OPEN_STATUSES,
        callable_at__isnull=False,
        callable_at__lte=at,
    )


def lead_claim_next(*, rep_user, at: datetime.datetime | None = None) -> Lead | None:
    """Claim for this rep the best lead that may be called now, from their own leads and the
    pool; None when there is none."""
    at = at or timezone.now()
    for _ in range(CLAIM_TRIES):
        with transaction.atomic():
            lead = (
                _claimable(rep_user, at)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("-priority", "queue_at")
                .first()
            )
            if lead is None:
                return None
            (decision,) = decide_many([(lead, Channel.CALL, at)], automated=False)
            if not decision.allowed:
                lead.callable_at = decision.next_allowed_at
                lead.callable_until = decision.window_ends_at
                lead.save(update_fields=["callable_at", "callable_until"])
                continue
            if lead.owner_id is None:
                lead_assign(lead=lead, rep_user=rep_user, reason=AssignmentReason.CLAIM)
            return lead
    return None


def next_callable_at(*, rep_user, at: datetime.datetime | None = None):
    """Return when the rep's first lead (or the pool's) becomes callable, or None."""
    at = at or timezone.now()
    return (
        Lead.objects.filter(Q(owner=rep_user) | Q(owner__isnull=True), status__in=OPEN_STATUSES)
        .filter(callable_at__gt=at)
        .aggregate(first=Min("callable_at"))["first"]
    )


@dataclass(frozen=True)
class QueueRow:
    lead: Lead
    badge: str  # call-now, text-now, later, blocked
    badge_text: str
    why: str


BAND_WHY = [
    (CALLBACK_DUE, "callback they asked for"),
    (CALL_TASK_DUE, "cadence call due"),
    (SLA_BREAKING, "SLA about to break"),
    (NEVER_ATTEMPTED, "never called: by score, then age"),
    (ATTEMPTED, "called before: longest waiting first"),
]


def band_why(priority: int) -> str:
    return next((why for floor, why in BAND_WHY if priority >= floor), "not queued yet")


def queue_rows(*, leads: list[Lead], at: datetime.datetime | None = None) -> list[QueueRow]:
    """Each lead of a queue page with whether it may be contacted now, and why it sits where
    it does. Leads callable now are read from their stored window; the gate is asked (once,
    for them all) only about the others, for a text now or the reason they wait."""
    at = at or timezone.now()
    waiting = [lead for lead in leads if not _in_window(lead, at)]
    texts = dict(
        zip(
            [lead.pk for lead in waiting],
            decide_many([(lead, Channel.SMS, at) for lead in waiting]),
            strict=True,
        )
    )
    calls = dict(
        zip(
            [lead.pk for lead in waiting if lead.callable_at is None],
            decide_many(
                [(lead, Channel.CALL, at) for lead in waiting if lead.callable_at is None],
                automated=False,
            ),
            strict=True,
        )
    )
    rows = []
    for lead in leads:
        if _in_window(lead, at):
            badge, text = "call-now", "Call now"
        elif lead.pk in texts and texts[lead.pk].allowed:
            badge, text = "text-now", "Text now"
        elif lead.callable_at is not None:
            badge, text = "later", "Callable from"
        else:
            reasons = calls[lead.pk].reasons
            badge, text = "blocked", f"Blocked: {reasons[0].message}" if reasons else "Blocked"
        rows.append(QueueRow(lead, badge, text, band_why(lead.priority)))
    return rows


def _in_window(lead: Lead, at: datetime.datetime) -> bool:
    return (
        lead.callable_at is not None
        and lead.callable_at <= at
        and (lead.callable_until is None or lead.callable_until > at)
    )
