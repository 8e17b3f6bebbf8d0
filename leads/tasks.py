"""Celery tasks for leads: thin, by id, safe to retry."""

from celery import shared_task
from django.db import OperationalError

from leads.intake.handoff import new_leads_take
from leads.intake.service import intake_history_record
from leads.scoring import leads_score


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def process_new_leads(lead_ids: list[int]) -> None:
    """The fast lane after intake: record what arrived, then score the new leads."""
    intake_history_record(lead_ids=lead_ids)
    leads_score(lead_ids=lead_ids)


@shared_task(ignore_result=True)
def drain_new_leads() -> None:
    """Take the leads queued by intake and process them, a chunk per task."""
    lead_ids, more_waiting = new_leads_take()
    if lead_ids:
        process_new_leads.delay(lead_ids)
    if more_waiting:
        drain_new_leads.delay()
