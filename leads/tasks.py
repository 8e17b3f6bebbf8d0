"""Celery tasks for leads: thin, by id, safe to retry."""

import time

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from leads.cadences.engine import cadence_stop, cadences_finish, cadences_stop_for_addresses
from leads.cadences.outbound import (
    due_touches_dispatch,
    interrupted_sends_reconcile,
    send_task_enqueue,
    touches_send,
)
from leads.fastlane import leads_process, unprocessed_leads_process
from leads.feedback.exports import feedback_daily_files_request
from leads.feedback.rollups import rollups_refresh, rollups_refresh_nightly
from leads.feedback.webhooks import feedback_deliveries_dispatch, feedback_events_deliver
from leads.intake.handoff import new_leads_take
from leads.models import Lead
from leads.models.lead import OPEN_STATUSES
from leads.scoring import lead_rescore
from leads.voice.bridge import (
    BridgeTemporaryError,
    bridge_call_place,
    bridge_touches_dispatch,
    stale_bridges_settle,
)
from leads.workspace.alerts import due_callbacks_alert
from leads.workspace.queue import leads_queue_refresh, stale_windows_refresh
from leads.workspace.routing import pool_leads_route
from leads.workspace.sla import sla_escalate


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def process_new_leads(lead_ids: list[int]) -> None:
    """The fast lane after intake: each new lead recorded, scored and marked processed."""
    leads_process(lead_ids=lead_ids)


@shared_task(ignore_result=True)
def drain_new_leads() -> None:
    """Take the leads queued by intake and process them, a chunk per task."""
    lead_ids, more_waiting = new_leads_take()
    if lead_ids:
        process_new_leads.delay(lead_ids)
    if more_waiting:
        drain_new_leads.delay()


@shared_task(ignore_result=True)
def sweep_unprocessed_leads() -> None:
    """The clock's safety net for the fast lane: leads it missed or failed on."""
    unprocessed_leads_process()


@shared_task(ignore_result=True)
def refresh_calling_windows() -> None:
    """The clock: store anew when open leads may be called, where that instant has come."""
    stale_windows_refresh()


@shared_task(ignore_result=True)
def route_pool_leads() -> None:
    """The clock: give waiting leads of the pool to reps who have become eligible."""
    pool_leads_route()


@shared_task(ignore_result=True)
def escalate_sla() -> None:
    """The clock: escalate leads no rep has called within their speed-to-lead SLA."""
    sla_escalate()


@shared_task(ignore_result=True)
def alert_due_callbacks() -> None:
    """The clock: tell reps about callbacks that have come due on their leads."""
    due_callbacks_alert()


# Seconds before the first retry of a touch the provider could not take; doubled each time.
SEND_RETRY_BASE_SECONDS = 5
SEND_RETRY_MAX_SECONDS = 300


@shared_task(
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=6,
    acks_late=True,
    ignore_result=True,
)
def send_touches(self, touch_ids: list[int]) -> None:
    """Send these queued texts or emails, asking the compliance gate again at this moment."""
    report = touches_send(touch_ids=touch_ids)
    if report.rate_limited:
        # Not a failure: wait for the provider's bucket to refill, without using a retry.
        if self.request.is_eager:
            time.sleep(report.rate_wait)
        send_task_enqueue(report.rate_limited, countdown=max(report.rate_wait, 0.05))
    if report.retry and not self.request.is_eager:
        # In-process (no Redis) the clock queues them again instead of this request waiting.
        countdown = min(SEND_RETRY_MAX_SECONDS, SEND_RETRY_BASE_SECONDS * 2**self.request.retries)
        raise self.retry(args=[report.retry], countdown=max(countdown, report.retry_in))


@shared_task(acks_late=True, ignore_result=True)
def send_touch(touch_id: int) -> None:
    """Send one queued touch (the task's earlier form, kept for messages already queued)."""
    send_touches.delay([touch_id])


@shared_task(ignore_result=True)
def dispatch_due_touches() -> None:
    """The clock's tick: queue every touch that is due."""
    # Most of a tick drains a backlog; the next tick takes what is left.
    due_touches_dispatch(seconds=settings.CLOCK_TICK_SECONDS * 0.8)


@shared_task(ignore_result=True)
def reconcile_interrupted_sends() -> None:
    """The clock: settle touches whose worker died between claim and the provider's answer."""
    interrupted_sends_reconcile()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def rescore_lead(lead_id: int) -> None:
    """Score a lead anew after it contacted the business (a reply: queued by name, as
    compliance cannot import leads' later stages), and refresh its place in the queue."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None:
            return
        lead_rescore(lead=lead)
        if lead.status in OPEN_STATUSES:
            leads_queue_refresh(leads=[lead])


@shared_task(
    autoretry_for=(OperationalError, BridgeTemporaryError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
    acks_late=True,
)
def place_bridge_call(touch_id: int) -> None:
    """Ring a rep for a lead-to-call bridge, asking the compliance gate again first."""
    bridge_call_place(touch_id=touch_id)


@shared_task(ignore_result=True)
def dispatch_due_bridges() -> None:
    """The clock's tick: ask the gate for each due lead-to-call bridge, and queue it; settle
    those whose Twilio callbacks never came."""
    bridge_touches_dispatch()
    stale_bridges_settle()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def stop_cadence(lead_id: int, reason: str) -> None:
    """Stop a lead's cadence after it replied (queued by name by compliance)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is not None:
        cadence_stop(lead=lead, reason=reason)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, acks_late=True)
def stop_cadences_for_addresses(phones: list[str], emails: list[str], reason: str) -> None:
    """Stop the cadences an opt-out covers (queued by name by compliance)."""
    cadences_stop_for_addresses(phones=phones, emails=emails, reason=reason)


@shared_task(ignore_result=True)
def finish_cadences() -> None:
    """The clock: mark finished the cadences with nothing left to do."""
    cadences_finish()


@shared_task(ignore_result=True)
def refresh_rollups() -> None:
    """The clock: rebuild the dashboard's figures of the last few days."""
    rollups_refresh()


@shared_task(ignore_result=True)
def refresh_rollups_nightly() -> None:
    """The clock, nightly: queue the rebuild of older leads' figures (an RQ job)."""
    rollups_refresh_nightly()


@shared_task(ignore_result=True)
def prepare_daily_feedback_files() -> None:
    """The clock: queue yesterday's feedback file for each source with feedback."""
    feedback_daily_files_request()


@shared_task(ignore_result=True)
def dispatch_feedback_deliveries() -> None:
    """The clock: claim the feedback webhooks that are due and queue them for posting."""
    feedback_deliveries_dispatch()


@shared_task(ignore_result=True, acks_late=True)
def deliver_feedback_events(event_ids: list[int], lease: str | None = None) -> None:
    """POST one source's batch of feedback events; failures wait in the outbox for the
    clock (never in the broker), so this task is not retried."""
    feedback_events_deliver(event_ids=event_ids, lease=lease)
