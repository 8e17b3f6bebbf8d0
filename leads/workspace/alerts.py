"""Alerts a rep or manager should see now: shown on the queue page as they arrive."""

import datetime

from django.db import transaction
from django.utils import timezone

from leads.choices import Channel
from leads.models import Alert, AlertKind, Lead, Touch, TouchStatus
from leads.workspace.queue import leads_queue_refresh

SHOWN_FOR = datetime.timedelta(hours=12)
SHOWN_AT_MOST = 10
DUE_BATCH = 500


def alert_create(*, user, lead: Lead, kind: str, message: str) -> Alert:
    return Alert.objects.create(user=user, lead=lead, kind=kind, message=message[:300])


def alerts_unseen(*, user, now: datetime.datetime | None = None) -> list[Alert]:
    """The user's alerts not yet dismissed, newest first (the recent ones only)."""
    now = now or timezone.now()
    return list(
        Alert.objects.filter(user=user, seen_at__isnull=True, created_at__gte=now - SHOWN_FOR)
        .select_related("lead")
        .order_by("-created_at")[:SHOWN_AT_MOST]
    )


def alerts_mark_seen(*, user) -> int:
    return Alert.objects.filter(user=user, seen_at__isnull=True).update(seen_at=timezone.now())


def due_callbacks_alert(*, now: datetime.datetime | None = None) -> int:
    """The clock: tell each rep about the callbacks that have come due on their leads, once.

    Each lead moves to the top of its rep's queue (its window opened at the callback's
    time), and the alert is what makes the live queue ring.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Touch.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead")
            .filter(
                channel=Channel.CALL,
                automated=False,  # a lead-to-call bridge rings the rep itself
                status=TouchStatus.SCHEDULED,
                queued_at__isnull=True,
                due_at__lte=now,
            )
            .order_by("due_at")[:DUE_BATCH]
        )
        alerts = [
            Alert(
                user_id=touch.lead.owner_id,
                lead=touch.lead,
                kind=AlertKind.CALLBACK_DUE,
                message=f"Callback due: {touch.lead.full_name or 'a lead'} ({touch.body})"[:300],
            )
            for touch in due
            if touch.lead.owner_id is not None
        ]
        Alert.objects.bulk_create(alerts)
        Touch.objects.filter(pk__in=[touch.pk for touch in due]).update(queued_at=now)
        # Due now: each lead moves to the top of its rep's queue.
        leads_queue_refresh(
            leads=list({touch.lead_id: touch.lead for touch in due}.values()), at=now
        )
    return len(due)
