"""The rep's queue: which lead "next lead" gives, claimed safely under concurrency.

Each open lead keeps when the gate next allows a rep's call (`callable_at`) and where it
stands (`priority`), so the claim is one indexed `SELECT ... FOR UPDATE SKIP LOCKED` over the
rep's own leads and the unassigned pool, never a question to the gate row by row. The gate
is asked once more for the claimed lead; if its answer changed (an opt-out, a cap reached),
the lead's `callable_at` moves to the gate's next allowed instant and the next one is taken.
"""

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from compliance.gate import decide_many
from leads.choices import Channel
from leads.models import AssignmentReason, Lead
from leads.models.lead import OPEN_STATUSES
from leads.workspace.routing import lead_assign

NEVER_ATTEMPTED = 2000
ATTEMPTED = 1000
CLAIM_TRIES = 5
REFRESH_BATCH = 1000


def lead_priority(*, lead: Lead) -> int:
    """Return where the lead stands: leads never called first, then by score."""
    return (NEVER_ATTEMPTED if lead.first_attempt_at is None else ATTEMPTED) + lead.score


def leads_queue_refresh(*, leads: Iterable[Lead], at: datetime.datetime | None = None) -> int:
    """Store each lead's priority and when a rep may next call it, asking the gate once for
    them all; return how many were refreshed."""
    leads = list(leads)
    at = at or timezone.now()
    decisions = decide_many([(lead, Channel.CALL, at) for lead in leads], automated=False)
    for lead, decision in zip(leads, decisions, strict=True):
        lead.callable_at = at if decision.allowed else decision.next_allowed_at
        lead.priority = lead_priority(lead=lead)
    Lead.objects.bulk_update(leads, ["callable_at", "priority"])
    return len(leads)


def stale_windows_refresh(*, at: datetime.datetime | None = None) -> int:
    """The clock: refresh open leads whose stored calling instant has come (its window may
    have opened, or closed since), and those never queued yet (priority 0: stored before the
    queue, or by the demo), a batch per tick."""
    at = at or timezone.now()
    open_leads = Lead.objects.filter(status__in=OPEN_STATUSES)
    # Two indexed reads (lead_callable_idx, lead_unqueued_idx) rather than one OR, which
    # would walk every future calling instant to reach the leads never queued.
    come = list(open_leads.filter(callable_at__lte=at).order_by("callable_at")[:REFRESH_BATCH])
    never = list(open_leads.filter(priority=0).order_by("received_at")[: REFRESH_BATCH - len(come)])
    return leads_queue_refresh(leads=come + never, at=at)


def _claimable(rep_user, at: datetime.datetime):
    return Lead.objects.filter(
        Q(owner=rep_user) | Q(owner__isnull=True),
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
                .order_by("-priority", "received_at")
                .first()
            )
            if lead is None:
                return None
            (decision,) = decide_many([(lead, Channel.CALL, at)], automated=False)
            if not decision.allowed:
                lead.callable_at = decision.next_allowed_at
                lead.save(update_fields=["callable_at"])
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
