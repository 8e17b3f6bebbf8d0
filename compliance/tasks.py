"""Celery tasks for compliance replies: thin, by id, safe to retry."""

from celery import shared_task
from django.db import OperationalError

from compliance.replies import help_reply_send, opt_out_confirmation_send
from crm.sms import SmsTemporaryError

# Short backoff: an opt-out confirmation is only due within 5 minutes of the opt-out.
RETRY_OPTIONS = {
    "autoretry_for": (OperationalError, SmsTemporaryError),
    "retry_backoff": 5,
    "retry_backoff_max": 60,
    "max_retries": 3,
    "acks_late": True,
}


@shared_task(**RETRY_OPTIONS)
def send_opt_out_confirmation(suppression_id: int) -> None:
    """Send the one confirmation text of an SMS opt-out, if still due."""
    opt_out_confirmation_send(suppression_id=suppression_id)


@shared_task(**RETRY_OPTIONS)
def send_help_reply(phone: str, lead_id: int | None) -> None:
    """Answer a HELP text."""
    help_reply_send(phone=phone, lead_id=lead_id)
