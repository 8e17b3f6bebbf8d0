"""The two texts an inbound reply may earn: the help text and the one opt-out confirmation.

47 CFR 64.1200(a)(12) (effective 11 Apr 2025): an opt-out by text may be answered with one
confirmation text, without marketing, presumed lawful only when sent within 5 minutes of the
opt-out. HELP is always answered (CTIA).
"""

import datetime
import logging

from django.conf import settings
from django.utils import timezone

from compliance.gate import contact_check
from compliance.models import DecisionStage, Purpose, Suppression
from crm.sms import send_sms
from leads.choices import Channel
from leads.models import ContactAttempt, Lead
from leads.models.attempt import Direction

logger = logging.getLogger(__name__)

CONFIRMATION_WINDOW = datetime.timedelta(minutes=5)


def _from_business(message: str) -> str:
    """Sign a reply with the business's name, as carriers require."""
    name = getattr(settings, "BUSINESS_NAME", "")
    return f"{name}: {message}" if name else message[:1].upper() + message[1:]


def help_text() -> str:
    """Return the answer to HELP: who is texting, why, and how to stop."""
    return _from_business(
        "you get texts about your quote request. Reply STOP to opt out. Msg & data rates may apply."
    )


def opt_out_confirmation_text() -> str:
    """Return the one confirmation of an opt-out: no marketing, only how to resubscribe."""
    return _from_business(
        "you're unsubscribed and will get no more texts from us. Reply START to resubscribe."
    )


def opt_out_confirmation_send(*, suppression_id: int) -> str | None:
    """Send an opt-out's one confirmation if it is still due; return the provider's id."""
    now = timezone.now()
    # Claim the confirmation in one statement: of two workers, only one updates the row.
    claimed = (
        Suppression.objects.filter(
            pk=suppression_id,
            confirmation_sent_at__isnull=True,
            received_at__gte=now - CONFIRMATION_WINDOW,
        )
        .exclude(phone="")
        .update(confirmation_sent_at=now)
    )
    suppression = Suppression.objects.select_related("lead").get(pk=suppression_id)
    if not claimed:
        logger.info(
            "Opt-out %s: no confirmation sent (%s).", suppression_id, _unclaimed_why(suppression)
        )
        return None
    try:
        message_id = _reply_send(
            phone=str(suppression.phone), lead=suppression.lead, body=opt_out_confirmation_text()
        )
    except TimeoutError:
        raise  # the provider may have sent it: keep the claim rather than risk a second text
    except Exception:
        _release(suppression_id, claimed_at=now)
        raise
    if message_id is None:
        _release(suppression_id, claimed_at=now)
    return message_id


def _unclaimed_why(suppression: Suppression) -> str:
    if suppression.confirmation_sent_at is not None:
        return f"already sent at {suppression.confirmation_sent_at:%Y-%m-%d %H:%M:%S} UTC"
    if not suppression.phone:
        return "no phone number"
    return f"more than 5 minutes after the opt-out of {suppression.received_at:%H:%M:%S} UTC"


def _release(suppression_id: int, *, claimed_at: datetime.datetime) -> None:
    """Give back a claimed confirmation that was not sent, so a retry may send it."""
    Suppression.objects.filter(pk=suppression_id, confirmation_sent_at=claimed_at).update(
        confirmation_sent_at=None
    )


def help_reply_send(*, phone: str, lead_id: int | None) -> str | None:
    """Answer HELP, even from a number that opted out; return the provider's id."""
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id else None
    return _reply_send(phone=phone, lead=lead, body=help_text())


def _reply_send(*, phone: str, lead: Lead | None, body: str) -> str | None:
    """Send a transactional reply, with the gate's decision and the attempt when there's a lead.

    Returns None when the gate blocks it.
    """
    decision_record = None
    if lead is not None:
        decision, decision_record = contact_check(
            lead=lead,
            channel=Channel.SMS,
            stage=DecisionStage.SENDING,
            purpose=Purpose.TRANSACTIONAL,
            automated=True,
        )
        if not decision.allowed:
            logger.warning("Reply to %s blocked: %s", phone, ", ".join(decision.codes))
            return None
    message_id = send_sms(to=phone, body=body)
    if lead is not None:
        attempt = ContactAttempt.objects.create(
            lead=lead, channel=Channel.SMS, direction=Direction.OUTBOUND, notes=body
        )
        decision_record.attempt = attempt
        decision_record.save(update_fields=["attempt"])
    logger.info("Reply sent to %s (%s).", phone, message_id)
    return message_id
