"""Reads of leads that several places need."""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, Q, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from leads.choices import Channel
from leads.models import ContactAttempt, Direction, Lead


def leads_for_rep(*, rep: AbstractBaseUser, at: datetime.datetime | None = None):
    """Return the rep's open leads in the order "next lead" would take them: callable now
    (best first), then by when they become callable, then those the gate bars for now."""
    at = at or timezone.now()
    standing = Case(
        When(
            Q(callable_at__lte=at) & (Q(callable_until__isnull=True) | Q(callable_until__gt=at)),
            then=Value(0),
        ),
        When(callable_at__gt=at, then=Value(1)),
        default=Value(2),
    )
    return (
        Lead.objects.owned_by(rep)
        .open()
        .select_related("source")
        .annotate(standing=standing)
        .order_by("standing", "-priority", "queue_at", "callable_at")
    )


def sees_every_lead(user: AbstractBaseUser) -> bool:
    """Managers (staff allowed to view leads) see and work every lead; reps only theirs."""
    return user.is_staff and user.has_perm("leads.view_lead")


def lead_for_rep_or_404(*, rep: AbstractBaseUser, lead_id: int) -> Lead:
    """Return a lead the rep owns (any lead, for a manager); another rep's lead is a 404,
    never a peek."""
    leads = Lead.objects.select_related("source")
    if not sees_every_lead(rep):
        leads = leads.filter(owner=rep)
    return get_object_or_404(leads, pk=lead_id)


def open_call_of_rep(*, lead: Lead, rep: AbstractBaseUser) -> ContactAttempt | None:
    """The rep's latest call to this lead that has no outcome yet."""
    return (
        lead.attempts.filter(
            rep=rep, channel=Channel.CALL, direction=Direction.OUTBOUND, disposition=""
        )
        .order_by("-started_at")
        .first()
    )
