"""The sending path: the clock hands due touches to send tasks, which send each one once.

1. The dispatcher (`due_touches_dispatch`, the clock's tick) claims due touches with
   `SKIP LOCKED`, marks them queued and hands them, grouped per channel, to send tasks
   carrying several touch ids each, after commit.
2. A send task (`touches_send`) takes tokens from its provider's bucket (crm.tokenbucket),
   claims each touch queued -> sending (a touch no longer queued was sent, or is being
   sent, by another task: a retried or duplicated task sends nothing twice), asks the gate
   again at this instant, hands it to the provider (`channels.touch_deliver`) and records
   it sent with its ContactAttempt. Temporary failures put it back in the queue for a retry
   with backoff.
3. A touch left sending (its worker died between claim and the provider's answer) is never
   sent again blindly (`interrupted_sends_reconcile`, the clock): a text is looked up at
   the provider (sent -> recorded sent; not there -> queued again); an email, which an SMTP
   server cannot be asked about, is marked unknown for a manager (`touch_resend`).
"""

import datetime
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from compliance.gate import Decision, decide_many
from compliance.gate.record import decisions_record
from compliance.models import ContactDecision, DecisionStage
from crm.tokenbucket import tokens_take
from leads.cadences.channels import (
    NotSent,
    NotSentYet,
    OutcomeUnknown,
    email_connection,
    sent_text_find,
    touch_deliver,
    unsubscribe_links,
)
from leads.cadences.conditions import cadence_skip_reasons
from leads.choices import Channel
from leads.feedback.returns import returns_auto_for_invalid
from leads.models import SENT_CHANNELS, ContactAttempt, Direction, Lead, Touch, TouchStatus

logger = logging.getLogger(__name__)

# How many due touches one tick of the clock hands out.
DISPATCH_BATCH = 500
# How many touches one send task carries.
TOUCHES_PER_TASK = 50
# Queued by name: the tasks module calls this one.
SEND_TASK = "leads.tasks.send_touches"
# Sent touches are recorded this many at a time: fewer statements, and a worker that dies
# leaves at most this many taken by the provider yet unrecorded, for reconciliation.
RECORD_EVERY = 25
# A touch tried this many times without the provider taking it fails for good.
MAX_SEND_ATTEMPTS = 8
# Reconciliation looks for the text from a little before the claim (providers' clocks).
CLOCK_SLACK = datetime.timedelta(seconds=5)


def decision_explained(decision: Decision) -> str:
    """The decision's reasons as one sentence a rep can read."""
    return " ".join(reason.message for reason in decision.reasons)


def touch_follow(touch: Touch, decision: Decision, *, now: datetime.datetime) -> None:
    """Queue, defer or block the touch as the gate decided; save it."""
    if decision.allowed:
        touch.status_note = ""
        if touch.due_at <= now:
            touches_queue([touch], now=now)
            return
        touch.status = TouchStatus.SCHEDULED
    else:
        touch_refusal_follow(touch, decision)
    touch.save()


def touch_refusal_follow(touch: Touch, decision: Decision) -> None:
    """Defer the touch to the instant the gate names, or block it with the reasons (unsaved)."""
    if decision.next_allowed_at is not None:
        touch.status = TouchStatus.SCHEDULED
        touch.due_at = decision.next_allowed_at
        touch.deferrals += 1
        touch.status_note = f"Waiting until allowed. {decision_explained(decision)}"
    else:
        touch.status = TouchStatus.BLOCKED
        touch.status_note = decision_explained(decision)
        logger.info("Touch %s blocked: %s", touch.pk, ", ".join(decision.codes))


def touches_queue(touches: list[Touch], *, now: datetime.datetime) -> None:
    """Mark touches queued and hand them to send tasks once this transaction commits."""
    if not touches:
        return
    for touch in touches:
        touch.status, touch.queued_at = TouchStatus.QUEUED, now
    if len(touches) == 1:
        touches[0].save(update_fields=["status", "queued_at", "status_note", "due_at"])
    else:
        Touch.objects.filter(pk__in=[touch.pk for touch in touches]).update(
            status=TouchStatus.QUEUED, queued_at=now
        )
    by_channel: dict[str, list[int]] = defaultdict(list)
    for touch in touches:
        by_channel[touch.channel].append(touch.pk)
    for ids in by_channel.values():
        for start in range(0, len(ids), TOUCHES_PER_TASK):
            chunk = ids[start : start + TOUCHES_PER_TASK]
            transaction.on_commit(lambda chunk=chunk: send_task_enqueue(chunk))


def send_task_enqueue(touch_ids: list[int], *, countdown: float | None = None) -> None:
    """Queue one send task for these touches (by name: the tasks module calls this one)."""
    options = {"countdown": countdown} if countdown else {}
    current_app.signature(SEND_TASK, args=[touch_ids]).apply_async(**options)


def due_touches_dispatch(*, now: datetime.datetime | None = None, seconds: float = 0) -> int:
    """One tick of the clock: queue the touches that are due; return how many.

    Rows are claimed with SKIP LOCKED, so two clocks never hand out the same touch. A touch
    queued long ago whose task never ran (its queue message was lost, Redis flushed) is
    queued again; the send task's own claim makes a second message harmless. One batch of
    DISPATCH_BATCH, each in its own transaction, then more while batches come full and
    `seconds` have not passed: a backlog drains within ticks, not one batch a tick.
    """
    deadline = time.monotonic() + seconds
    total = 0
    while True:
        handed = _dispatch_batch(now=now or timezone.now())
        total += handed
        if handed < DISPATCH_BATCH or time.monotonic() >= deadline:
            return total


def _dispatch_batch(*, now: datetime.datetime) -> int:
    requeue_before = now - datetime.timedelta(seconds=settings.SEND_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        due = list(
            Touch.objects.select_for_update(skip_locked=True)
            .filter(status=TouchStatus.SCHEDULED, channel__in=SENT_CHANNELS, due_at__lte=now)
            .order_by("due_at")
            .only("pk", "channel")[:DISPATCH_BATCH]
        )
        lost = list(
            Touch.objects.select_for_update(skip_locked=True)
            .filter(
                status=TouchStatus.QUEUED, channel__in=SENT_CHANNELS, queued_at__lte=requeue_before
            )
            .order_by("queued_at")
            .only("pk", "channel")[:DISPATCH_BATCH]
        )
        touches_queue(due + lost, now=now)
    return len(due) + len(lost)


@dataclass
class SendReport:
    """What one send task did: touches sent, and those to try again (and when)."""

    sent: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    retry_in: float = 0.0
    rate_limited: list[int] = field(default_factory=list)
    rate_wait: float = 0.0


def touches_send(*, touch_ids: list[int]) -> SendReport:
    """Send each queued touch of these that the gate allows at this moment; else defer or
    block it. Touches no longer queued (another task has or had them) are left alone."""
    report = SendReport()
    by_channel: dict[str, list[int]] = defaultdict(list)
    # Only texts and emails: a call placed by the system (the lead-to-call bridge) has its own.
    for channel, pk in Touch.objects.filter(
        pk__in=touch_ids, status=TouchStatus.QUEUED, channel__in=SENT_CHANNELS
    ).values_list("channel", "pk"):
        by_channel[channel].append(pk)
    for channel, ids in by_channel.items():
        ids.sort()
        granted, wait = tokens_take(
            bucket=channel, rate_per_second=_rate_for(channel), wanted=len(ids)
        )
        if granted < len(ids):
            report.rate_limited += ids[granted:]
            report.rate_wait = max(report.rate_wait, wait)
        _channel_send(channel, ids[:granted], report)
    return report


def touch_send(*, touch_id: int) -> Touch | None:
    """Send one queued touch (see `touches_send`); return it, or None if it was not queued."""
    report = touches_send(touch_ids=[touch_id])
    if touch_id not in report.handled:
        return None
    return Touch.objects.select_related("lead").get(pk=touch_id)


def _rate_for(channel: str) -> float:
    if channel == Channel.SMS:
        return settings.SMS_RATE_PER_SECOND
    return settings.EMAIL_RATE_PER_SECOND


def _channel_send(channel: str, touch_ids: list[int], report: SendReport) -> None:
    now = timezone.now()
    allowed = _claim_and_decide(touch_ids, now=now, report=report)
    if not allowed:
        return
    connection = email_connection() if channel == Channel.EMAIL else None
    links = unsubscribe_links([touch for touch, _ in allowed])
    delivered: list[Sent] = []
    try:
        for touch, record in allowed:
            # Outside any transaction: a slow provider must hold no row lock or connection.
            message_id = _one_send(
                touch, connection=connection, report=report, link=links.get(touch.pk, "")
            )
            if message_id is not None:
                delivered.append(Sent(touch, message_id, record))
            if len(delivered) >= RECORD_EVERY:
                touches_sent_record(delivered, started_at=now)
                report.sent += [sent.touch.pk for sent in delivered]
                delivered = []
    finally:
        # Also when something unforeseen stops the batch: what went out is recorded.
        if delivered:
            touches_sent_record(delivered, started_at=now)
            report.sent += [sent.touch.pk for sent in delivered]
        if connection is not None:
            connection.close()


def _claim_and_decide(
    touch_ids: list[int], *, now: datetime.datetime, report: SendReport
) -> list[tuple[Touch, ContactDecision]]:
    """Claim the touches (queued -> sending) and ask the gate; return those it allows."""
    with transaction.atomic():
        touches = list(
            Touch.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead")
            .filter(pk__in=touch_ids, status=TouchStatus.QUEUED)
            .order_by("pk")
        )
        if not touches:
            return []
        claimed = Touch.objects.filter(
            pk__in=[touch.pk for touch in touches], status=TouchStatus.QUEUED
        ).update(status=TouchStatus.SENDING, sending_at=now, send_attempts=F("send_attempts") + 1)
        if claimed != len(touches):  # the rows are locked: nothing else can have moved them
            raise RuntimeError(f"Claimed {claimed} of {len(touches)} locked touches.")
        for touch in touches:
            touch.status, touch.sending_at = TouchStatus.SENDING, now
            touch.send_attempts += 1
        report.handled += [touch.pk for touch in touches]
        exhausted = [t for t in touches if t.send_attempts > MAX_SEND_ATTEMPTS]
        for touch in exhausted:
            _finish(touch, TouchStatus.FAILED, f"Not sent after {MAX_SEND_ATTEMPTS} attempts.")
        touches = [t for t in touches if t.send_attempts <= MAX_SEND_ATTEMPTS]
        # A cadence step may no longer apply (the lead was reached, replied, or its cadence
        # stopped): such a touch is skipped before the gate is asked.
        skips = cadence_skip_reasons(touches=touches)
        for touch in touches:
            if touch.pk in skips:
                _finish(touch, TouchStatus.SKIPPED, skips[touch.pk])
        touches = [t for t in touches if t.pk not in skips]
        decisions = _decisions(touches, now=now)
        records = decisions_record(
            [
                {
                    "decision": decision,
                    "lead": touch.lead,
                    "channel": touch.channel,
                    "stage": DecisionStage.SENDING,
                    "decided_for": now,
                    "purpose": touch.purpose,
                    "automated": touch.automated,
                    "touch": touch,
                }
                for touch, decision in zip(touches, decisions, strict=True)
            ]
        )
        allowed = []
        for touch, decision, record in zip(touches, decisions, records, strict=True):
            if decision.allowed:
                allowed.append((touch, record))
            else:
                touch_follow(touch, decision, now=now)
    return allowed


def _decisions(touches: list[Touch], *, now: datetime.datetime) -> list[Decision]:
    """The gate's decisions for these touches at this instant, in order."""
    groups: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for index, touch in enumerate(touches):
        groups[(touch.purpose, touch.automated)].append(index)
    decisions: list[Decision | None] = [None] * len(touches)
    for (purpose, automated), indexes in groups.items():
        answers = decide_many(
            [(touches[i].lead, touches[i].channel, now) for i in indexes],
            purpose=purpose,
            automated=automated,
        )
        for index, decision in zip(indexes, answers, strict=True):
            decisions[index] = decision
    return decisions


def _one_send(touch: Touch, *, connection, report: SendReport, link: str) -> str | None:
    """Hand one claimed touch to its provider; return its message id, or None if not sent."""
    try:
        return touch_deliver(touch, connection=connection, unsubscribe_link=link)
    except NotSentYet as error:
        _finish(touch, TouchStatus.QUEUED, f"Provider busy, will retry: {error}")
        report.retry.append(touch.pk)
        report.retry_in = max(report.retry_in, 1.0)
    except NotSent as error:
        _finish(touch, TouchStatus.FAILED, f"Not sent: {error}")
        logger.warning("Touch %s failed: %s", touch.pk, error)
        if error.address_invalid:
            lead_contact_invalid_record(lead=touch.lead, channel=touch.channel, reason=str(error))
    except OutcomeUnknown as error:
        # Left sending: the clock reconciles it (a text from the provider; an email becomes
        # unknown for a manager), so it is never sent twice.
        logger.warning("Touch %s: outcome unknown: %s", touch.pk, error)
        Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENDING).update(
            status_note=f"Interrupted: {error}"
        )
    if connection is not None:
        connection.close()  # a refused or broken session: the next email opens a new one
    return None


def _finish(touch: Touch, status: str, note: str) -> None:
    touch.status, touch.status_note = status, note
    fields = {"status": status, "status_note": note}
    if status == TouchStatus.QUEUED:
        touch.queued_at = fields["queued_at"] = timezone.now()
    Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENDING).update(**fields)


@dataclass
class Sent:
    """A touch the provider took, with its message id and the gate's decision to send it."""

    touch: Touch
    message_id: str
    record: ContactDecision | None = None


def touch_sent_record(touch: Touch, *, message_id: str) -> bool:
    """Record one sending touch as sent with its ContactAttempt; False if it was not sending."""
    return bool(touches_sent_record([Sent(touch, message_id)]))


@transaction.atomic
def touches_sent_record(sent: list[Sent], *, started_at: datetime.datetime | None = None) -> int:
    """Record sending touches as sent, each with its ContactAttempt, in a few statements;
    return how many. A touch no longer sending (a delivery report settled it) is skipped."""
    sending = set(
        Touch.objects.filter(
            pk__in=[item.touch.pk for item in sent], status=TouchStatus.SENDING
        ).values_list("pk", flat=True)
    )
    sent = [item for item in sent if item.touch.pk in sending]
    if not sent:
        return 0
    sent_at = timezone.now()
    attempts = bulk_create_with_history(
        [
            ContactAttempt(
                lead=item.touch.lead,
                channel=item.touch.channel,
                direction=Direction.OUTBOUND,
                rep=item.touch.created_by,
                started_at=started_at or sent_at,
                notes=item.touch.subject or item.touch.body[:200],
            )
            for item in sent
        ],
        ContactAttempt,
    )
    touches = []
    for item, attempt in zip(sent, attempts, strict=True):
        touch = item.touch
        touch.status, touch.sent_at, touch.attempt = TouchStatus.SENT, sent_at, attempt
        touch.provider_message_id, touch.status_note = item.message_id[:100], ""
        touches.append(touch)
    Touch.objects.filter(pk__in=[t.pk for t in touches], status=TouchStatus.SENDING).update(
        status=TouchStatus.SENT,
        sent_at=sent_at,
        status_note="",
        attempt=Case(*(When(pk=t.pk, then=Value(t.attempt.pk)) for t in touches)),
        provider_message_id=Case(
            *(When(pk=t.pk, then=Value(t.provider_message_id)) for t in touches)
        ),
    )
    records = [item.record for item in sent if item.record is not None]
    missing = [item for item in sent if item.record is None]
    if missing:  # settled later (reconciliation, a delivery report): its latest decision
        latest = {}
        for record in ContactDecision.objects.filter(
            touch__in=[item.touch for item in missing], stage=DecisionStage.SENDING
        ).order_by("created_at", "pk"):
            latest[record.touch_id] = record
        records += latest.values()
    by_touch = {touch.pk: touch.attempt for touch in touches}
    for record in records:
        record.attempt = by_touch[record.touch_id]
    if records:
        ContactDecision.objects.filter(pk__in=[r.pk for r in records]).update(
            attempt=Case(*(When(pk=r.pk, then=Value(r.attempt.pk)) for r in records))
        )
    logger.info("Sent %s touch(es): %s", len(touches), [t.pk for t in touches])
    return len(touches)


def interrupted_sends_reconcile(*, now: datetime.datetime | None = None) -> int:
    """The clock: settle touches left sending by a worker that died; return how many.

    A text is looked up at the provider: sent (recorded sent) or not (queued again, the gate
    asked again when it goes). An email is marked unknown for a manager to resend or not.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.SEND_INTERRUPTED_AFTER_SECONDS)
    stuck = list(
        Touch.objects.select_related("lead")
        .filter(
            # Without sending_at: claimed before the claim time was kept (its queue time).
            Q(sending_at__lte=cutoff) | Q(sending_at__isnull=True, queued_at__lte=cutoff),
            status=TouchStatus.SENDING,
        )
        .order_by("sending_at")[:DISPATCH_BATCH]
    )
    settled = 0
    for touch in stuck:
        if touch.channel == Channel.EMAIL:
            settled += Touch.objects.filter(
                pk=touch.pk, status=TouchStatus.SENDING, sending_at=touch.sending_at
            ).update(
                status=TouchStatus.UNKNOWN,
                status_note="Interrupted while sending: the mail server may or may not have "
                "taken it. Resend it from the admin if it should go.",
            )
            continue
        try:
            claimed_at = touch.sending_at or touch.queued_at or touch.created_at
            message_id = sent_text_find(touch, since=claimed_at - CLOCK_SLACK)
        except (NotSentYet, ImproperlyConfigured) as error:
            # The provider cannot be asked now: the next tick asks again; the others go on.
            logger.warning("Touch %s not reconciled yet: %s", touch.pk, error)
            continue
        if message_id:
            settled += touch_sent_record(touch, message_id=message_id)
            continue
        with transaction.atomic():
            requeued = Touch.objects.filter(
                pk=touch.pk, status=TouchStatus.SENDING, sending_at=touch.sending_at
            ).update(
                status=TouchStatus.QUEUED,
                queued_at=now,
                status_note="Interrupted before the provider took it: queued again.",
            )
            if requeued:
                transaction.on_commit(lambda pk=touch.pk: send_task_enqueue([pk]))
        settled += requeued
    return settled


def touch_resend(*, touch: Touch, by) -> bool:
    """Queue again an email whose send was interrupted; False unless its fate was unknown."""
    with transaction.atomic():
        queued = Touch.objects.filter(pk=touch.pk, status=TouchStatus.UNKNOWN).update(
            status=TouchStatus.QUEUED,
            queued_at=timezone.now(),
            status_note=f"Resent by {by.get_username()} after an interrupted send.",
        )
        if queued:
            transaction.on_commit(lambda: send_task_enqueue([touch.pk]))
    return bool(queued)


def lead_contact_invalid_record(*, lead: Lead, channel: str, reason: str) -> int:
    """Mark the lead's number (texts) or address (emails) invalid and cancel that channel's
    pending touches; return how many were cancelled. The gate refuses the channel from now."""
    field_name = "email_invalid_at" if channel == Channel.EMAIL else "phone_invalid_at"
    now = timezone.now()
    with transaction.atomic():
        marked = Lead.objects.filter(pk=lead.pk, **{f"{field_name}__isnull": True}).update(
            **{field_name: now}
        )
        if marked:
            setattr(lead, field_name, now)
            logger.info("Lead %s: %s marked invalid: %s", lead.pk, channel, reason)
        cancelled = Touch.objects.filter(
            lead=lead,
            channel=channel,
            status__in=[TouchStatus.SCHEDULED, TouchStatus.QUEUED],
        ).update(status=TouchStatus.CANCELLED, status_note=f"Address invalid: {reason}"[:2000])
        if marked and channel != Channel.EMAIL:
            # A number that does not exist is what sources credit back ("bad number").
            returns_auto_for_invalid(lead=lead)
    return cancelled
