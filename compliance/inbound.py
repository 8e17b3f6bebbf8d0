"""Inbound SMS replies, and the two texts a reply may earn: the help text and the one opt-out
confirmation.

Revocation, 47 CFR 64.1200(a)(10)-(12) (effective 11 Apr 2025): an opt-out by text takes
effect at once, and the sender may answer it with one confirmation text, without marketing,
which is presumed lawful only when sent within 5 minutes of the opt-out. HELP is always
answered (CTIA); START after STOP resubscribes to texts.
"""

import datetime
import logging
from functools import partial

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from compliance.gate import contact_check
from compliance.keywords import Intent, classify
from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    DecisionStage,
    Purpose,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)
from compliance.suppressions import suppression_add
from crm.sms import send_sms
from leads.choices import Channel
from leads.models import ContactAttempt, Lead
from leads.models.attempt import Direction
from leads.normalize import InvalidField, normalize_phone

logger = logging.getLogger(__name__)

CONFIRMATION_WINDOW = datetime.timedelta(minutes=5)
SENDER_MAX_LENGTH = 40


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


def sender_phone(raw: str) -> str:
    """Return the sender's number in E.164, or as sent when it is not a valid US number.

    An opt-out from a number we cannot validate is still an opt-out and is still recorded.
    """
    try:
        return normalize_phone(raw).e164
    except InvalidField:
        pass
    text = str(raw).strip()[:SENDER_MAX_LENGTH]
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def sms_reply_receive(*, from_phone: str, body: str, received_at=None) -> Intent:
    """Log a text from a lead (or anyone) and act on what it asks."""
    phone = sender_phone(from_phone)
    if not phone:
        raise ValueError("An inbound text needs the sender's phone number.")
    received_at = received_at or timezone.now()
    _take_turn_for(phone)
    lead = Lead.objects.filter(phone=phone).order_by("-received_at", "-pk").first()
    if lead is not None:
        ContactAttempt.objects.create(
            lead=lead,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            started_at=received_at,
            notes=body,
        )
    intent = classify(body)
    if intent == Intent.OPT_OUT:
        _opt_out(phone=phone, body=body, lead=lead, received_at=received_at)
    elif intent == Intent.HELP:
        from compliance.tasks import send_help_reply  # the tasks module imports this one

        transaction.on_commit(partial(send_help_reply.delay, phone, lead.pk if lead else None))
    elif intent == Intent.OPT_IN:
        _opt_in(phone=phone, body=body, lead=lead, received_at=received_at)
    return intent


def _take_turn_for(phone: str) -> None:
    """Handle replies from one number one at a time, so two STOPs earn one confirmation.

    SQLite transactions here already take the write lock at BEGIN (transaction_mode IMMEDIATE).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sms-reply:{phone}"])


def _opt_outs_in_force(phone: str):
    """Return this number's suppressions that a later START has not lifted for texts."""
    resubscribed_at = ConsentRecord.objects.filter(
        lead__phone=phone, capture_method=CaptureMethod.SMS_KEYWORD
    ).aggregate(latest=Max("captured_at"))["latest"]
    suppressions = Suppression.objects.filter(phone=phone)
    if resubscribed_at is not None:
        suppressions = suppressions.filter(received_at__gt=resubscribed_at)
    return suppressions


def _opt_out(*, phone: str, body: str, lead: Lead | None, received_at) -> None:
    # Record every STOP (it also revokes consent captured since the last one), but confirm
    # only the first of a run: the number was told already.
    already_opted_out = (
        _opt_outs_in_force(phone).filter(origin=SuppressionOrigin.SMS_KEYWORD).exists()
    )
    suppression = suppression_add(
        origin=SuppressionOrigin.SMS_KEYWORD,
        phone=phone,
        scope=SuppressionScope.SMS,
        reason=f'Replied "{body[:80]}"',
        lead=lead,
        received_at=received_at,
    )
    if already_opted_out:
        logger.info("Opt-out %s: %s had opted out already; no confirmation.", suppression.pk, phone)
        return
    from compliance.tasks import send_opt_out_confirmation  # the tasks module imports this one

    transaction.on_commit(partial(send_opt_out_confirmation.delay, suppression.pk))


def _opt_in(*, phone: str, body: str, lead: Lead | None, received_at) -> None:
    # START means "texts again" only after an opt-out; a YES to a question is no consent.
    if lead is None or not _opt_outs_in_force(phone).exists():
        logger.info("Opt-in keyword from %s with no opt-out to lift; logged only.", phone)
        return
    business = getattr(settings, "BUSINESS_NAME", "")
    consent = ConsentRecord(
        lead=lead,
        capture_method=CaptureMethod.SMS_KEYWORD,
        channels=[Channel.SMS.value],
        seller_names=list(settings.SELLER_NAMES),
        disclosure_text=f'Replied "{body}" to {business} asking to receive texts again.',
        captured_at=received_at,
    )
    consent._change_reason = "Resubscribed by SMS keyword"
    consent.save()


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
