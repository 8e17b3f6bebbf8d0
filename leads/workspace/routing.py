"""Give each new lead to a rep who may work it now, or leave it in the unassigned pool.

Eligible: an active rep, inside their working hours now (their own zone and days), under
their capacity of open leads, licensed for the lead's state and speaking its language when
known. Of those, the one with the most free capacity; ties go to the one assigned least
recently. The candidates' rows are locked while one is chosen, so two fast-lane workers
routing at once never push a rep past capacity.
"""

import datetime
from collections.abc import Collection

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from leads.cadences.engine import cadence_messages_render
from leads.models import AssignmentReason, Lead, LeadAssignment, RepProfile
from leads.models.lead import OPEN_STATUSES

POOL_BATCH = 200


def rep_for_lead(
    *, lead: Lead, at: datetime.datetime, exclude: Collection[int] = ()
) -> RepProfile | None:
    """Return the rep routing would give this lead at `at`, with the candidates locked until
    the transaction ends; None when nobody is eligible. Call inside a transaction.

    `exclude`: ids of users who must not get it (a rep it is being taken from)."""
    candidates = list(
        RepProfile.objects.select_for_update()
        .filter(is_active=True, user__is_active=True)
        .exclude(user_id__in=exclude)
        .order_by("pk")  # locked in one order: concurrent routers never deadlock
    )
    eligible = [
        rep
        for rep in candidates
        if rep.is_working_at(at)
        and (not lead.state or rep.is_licensed_in(lead.state))
        and rep.speaks(lead.language)
    ]
    if not eligible:
        return None
    open_counts = dict(
        Lead.objects.filter(owner__in=[rep.user_id for rep in eligible], status__in=OPEN_STATUSES)
        .values_list("owner")
        .annotate(Count("pk"))
    )
    free = {rep.pk: rep.capacity - open_counts.get(rep.user_id, 0) for rep in eligible}
    with_room = [rep for rep in eligible if free[rep.pk] > 0]
    if not with_room:
        return None
    never = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return min(with_room, key=lambda rep: (-free[rep.pk], rep.last_assigned_at or never, rep.pk))


def lead_assign(
    *, lead: Lead, rep_user, reason: str, assigned_by=None, note: str = ""
) -> LeadAssignment:
    """Give the lead to `rep_user` (None: back to the pool), and record who did it and why."""
    assignment = LeadAssignment.objects.create(
        lead=lead,
        from_rep_id=lead.owner_id,
        to_rep=rep_user,
        reason=reason,
        assigned_by=assigned_by,
        note=note,
    )
    lead.owner = rep_user
    lead._change_reason = f"{assignment.get_reason_display()}{': ' + note if note else ''}"
    lead.save(update_fields=["owner", "updated_at"])
    if rep_user is not None:
        RepProfile.objects.filter(user=rep_user).update(last_assigned_at=assignment.created_at)
    cadence_messages_render(lead=lead)  # its texts to come name the rep who will call
    return assignment


def lead_route(*, lead: Lead, at: datetime.datetime | None = None) -> LeadAssignment | None:
    """Assign an unassigned lead to the eligible rep, if any. Call inside a transaction."""
    if lead.owner_id is not None or lead.status not in OPEN_STATUSES:
        return None
    rep = rep_for_lead(lead=lead, at=at or timezone.now())
    if rep is None:
        return None
    return lead_assign(lead=lead, rep_user=rep.user, reason=AssignmentReason.ROUTING)


def pool_leads_route(*, at: datetime.datetime | None = None, limit: int = POOL_BATCH) -> int:
    """Route waiting leads of the pool, oldest first, now that a rep may have become
    eligible; return how many were assigned. Run by the clock."""
    at = at or timezone.now()
    assigned = 0
    waiting = (
        Lead.objects.filter(owner__isnull=True, status__in=OPEN_STATUSES)
        .exclude(processed_at__isnull=True)  # the fast lane routes those itself
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for lead_id in list(waiting):
        with transaction.atomic():
            lead = (
                Lead.objects.select_for_update(skip_locked=True)
                .filter(pk=lead_id, owner__isnull=True)
                .first()
            )
            if lead is None:
                continue
            assigned += lead_route(lead=lead, at=at) is not None
    return assigned


@transaction.atomic
def leads_reassign(*, leads, rep_user, assigned_by, note: str) -> int:
    """A manager gives these leads to `rep_user` (None: the pool), with the reason kept."""
    count = 0
    for lead in leads.select_related(None).select_for_update().exclude(owner=rep_user):
        lead_assign(
            lead=lead,
            rep_user=rep_user,
            reason=AssignmentReason.MANAGER,
            assigned_by=assigned_by,
            note=note,
        )
        count += 1
    return count


def rep_pause(*, rep: RepProfile, paused: bool) -> None:
    """Stop (or resume) routing new leads to this rep; their open leads stay theirs."""
    RepProfile.objects.filter(pk=rep.pk).update(is_active=not paused)
    rep.is_active = not paused
