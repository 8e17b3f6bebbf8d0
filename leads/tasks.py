"""Celery tasks for leads: thin, by id, safe to retry."""

from celery import shared_task
from django.db import OperationalError

from leads.scoring import leads_score


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def process_new_leads(lead_ids: list[int]) -> None:
    """The fast lane after intake: score the new leads."""
    leads_score(lead_ids=lead_ids)
