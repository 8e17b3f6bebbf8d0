"""Alerts a rep or manager should see now: shown on the queue page as they arrive."""

import datetime

from django.db import transaction
from django.utils import timezone

from leads.cadences.conditions import cadence_skip_reasons
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
    """The clock: tell each rep about the callbacks and cadence call tasks that have come
    due on their leads, once.

    Each lead moves to the top of its rep's queue (its window opened at the callback's
    time), and the alert is what makes the live queue ring. A call task whose step no longer
    applies (the lead was reached) is skipped instead.
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
        skips = cadence_skip_reasons(touches=due)
        for touch in due:
            if touch.pk in skips:
                touch.status, touch.status_note = TouchStatus.SKIPPED, skips[touch.pk]
        Touch.objects.bulk_update(
            [touch for touch in due if touch.pk in skips], ["status", "status_note"]
        )
        alerts = [
            Alert(
                user_id=touch.lead.owner_id,
                lead=touch.lead,
                kind=AlertKind.CALLBACK_DUE,
                message=(
                    f"{'Cadence call' if touch.cadence_step_id else 'Callback'} due: "
                    f"{touch.lead.full_name or 'a lead'} ({touch.body})"
                )[:300],
            )
            for touch in due
            if touch.lead.owner_id is not None and touch.status == TouchStatus.SCHEDULED
        ]
        Alert.objects.bulk_create(alerts)
        Touch.objects.filter(pk__in=[touch.pk for touch in due]).update(queued_at=now)
        # Due now: each lead moves to the top of its rep's queue.
        leads_queue_refresh(
            leads=list({touch.lead_id: touch.lead for touch in due}.values()), at=now
        )
    return len(due)
