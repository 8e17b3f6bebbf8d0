"""Inbound SMS replies: log each one and act on what it asks (stop, help, start again).

Revocation, 47 CFR 64.1200(a)(10)-(11) (effective 11 Apr 2025): an opt-out by text takes
effect at once; the answers it and HELP earn are sent by compliance.replies.
"""

import logging

import phonenumbers
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance.gate import opt_outs_in_force
from compliance.keywords import Intent, classify
from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)
from compliance.suppressions import suppression_add
from compliance.tasks import send_help_reply, send_opt_out_confirmation
from leads.choices import Channel
from leads.models import ContactAttempt, Lead
from leads.models.attempt import Direction
from leads.normalize import InvalidField, normalize_phone

RESCORE_TASK = "leads.tasks.rescore_lead"
CADENCE_STOP_TASK = "leads.tasks.stop_cadence"

logger = logging.getLogger(__name__)

SENDER_MAX_LENGTH = 40


def sender_phone(raw: str) -> str:
    """Return the sender's number in E.164, or raise InvalidField for no valid number.

    A US number, or any valid international one (a lead abroad may still say STOP). Anything
    else is refused: recording it would opt out some other number and text it a confirmation.
    """
    try:
        return normalize_phone(raw).e164
    except InvalidField:
        pass
    text = str(raw).strip()[:SENDER_MAX_LENGTH]
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidField("From", f"{text!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def sms_reply_receive(*, from_phone: str, body: str, received_at=None) -> Intent:
    """Log a text from a lead (or anyone) and act on what it asks."""
    phone = sender_phone(from_phone)
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
        # A reply is engagement: the lead is rescored (queued by name: compliance calls no
        # later stage of leads).
        lead_id = lead.pk
        transaction.on_commit(
            lambda: current_app.signature(RESCORE_TASK, args=[lead_id]).delay(), robust=True
        )
    intent = classify(body)
    if intent == Intent.OTHER and lead is not None:
        # A person answered: their cadence stops and a rep takes it from here (an opt-out
        # stops it too, through the suppression it records).
        lead_id = lead.pk
        transaction.on_commit(
            lambda: current_app.signature(
                CADENCE_STOP_TASK, args=[lead_id, "The lead replied by text."]
            ).delay(),
            robust=True,
        )
    if intent == Intent.OPT_OUT:
        _opt_out(phone=phone, body=body, lead=lead, received_at=received_at)
    elif intent == Intent.HELP:
        # Robust: a queue that is away loses the courtesy text, never the logged reply.
        lead_id = lead.pk if lead else None
        transaction.on_commit(lambda: send_help_reply.delay(phone, lead_id), robust=True)
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


def _opt_outs_in_force(phone: str) -> list[Suppression]:
    """Return this number's opt-outs that still bar texts."""
    return opt_outs_in_force(
        opt_outs=Suppression.objects.filter(phone=phone),
        consents=ConsentRecord.objects.filter(
            lead__phone=phone, capture_method=CaptureMethod.SMS_KEYWORD
        ),
        channel=Channel.SMS,
    )


def _opt_out(*, phone: str, body: str, lead: Lead | None, received_at) -> None:
    # Record every STOP (it also revokes consent captured since the last one), but confirm
    # only the first of a run: the number was told already.
    already_opted_out = any(
        opt_out.origin == SuppressionOrigin.SMS_KEYWORD for opt_out in _opt_outs_in_force(phone)
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
    transaction.on_commit(lambda: send_opt_out_confirmation.delay(suppression.pk), robust=True)


def _opt_in(*, phone: str, body: str, lead: Lead | None, received_at) -> None:
    # START means "texts again" only after an opt-out; a YES to a question is no consent.
    if lead is None or not _opt_outs_in_force(phone):
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
