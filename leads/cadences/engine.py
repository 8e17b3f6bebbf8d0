"""The cadence engine: which follow-up plan a lead walks, planned up front as touches,
stopped, paused and resumed.

Every step becomes a `Touch` when the lead is enrolled, with its due time worked out from
the step delays, so the rep and the manager see the whole plan from the first second. Texts
and emails go through `leads.cadences.touches.touch_schedule` (the gate decides them when
planned and again when sent); a call task is a rep's call touch that comes up in their
queue when due; a bridge step is an automated call touch that the bridge's dispatcher places.

Timing, in the lead's own zone (UTC when it is unknown):
- a delay counts from the previous step's planned time, or from the lead's arrival;
- a delay of whole days keeps the wall-clock time across a daylight-saving change (a call
  "a day later" at 10:00 comes at 10:00, 23 or 25 hours on); shorter delays are elapsed time;
- a weekdays-only step due on a Saturday or Sunday moves to Monday at the same local time;
- the gate then defers a text or email due outside the lead's hours to its next allowed
  instant (`touch_schedule`), and skip-without-consent is decided here, at planning, so the
  plan shows the skipped step and why.

An enrollment finishes when its last step's time has passed and no touch of it is left to
do (`cadences_finish`, run by the clock).
"""

import datetime
import logging
import zoneinfo
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from compliance.models import ConsentRecord
from leads.cadences.templates import (
    EMAIL_MAX,
    SMS_MAX,
    SUBJECT_MAX,
    context_for,
    fallback_message,
    message_render,
)
from leads.cadences.touches import touch_schedule
from leads.choices import Channel
from leads.models import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    EnrollmentStatus,
    Lead,
    StepChannel,
    StepDelayFrom,
    Touch,
    TouchStatus,
)
from leads.models.lead import OPEN_STATUSES

logger = logging.getLogger(__name__)

MINUTES_PER_DAY = 24 * 60
TOUCH_CHANNEL = {
    StepChannel.SMS: Channel.SMS,
    StepChannel.EMAIL: Channel.EMAIL,
    StepChannel.CALL_TASK: Channel.CALL,
    StepChannel.BRIDGE: Channel.CALL,
}
# The consent a step needs when it skips without consent; a rep's own call needs none.
CONSENT_CHANNEL = {
    StepChannel.SMS: Channel.SMS,
    StepChannel.EMAIL: Channel.EMAIL,
    StepChannel.BRIDGE: Channel.CALL,
}
# Touches of a cadence still to be made: what a stop cancels and a pause holds.
PENDING = (TouchStatus.SCHEDULED, TouchStatus.QUEUED, TouchStatus.HELD)
LIVE = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)
FINISH_BATCH = 1000


class CadenceError(ValueError):
    """A cadence action that cannot be done now, in words a rep reads."""


def cadence_for_lead(*, lead: Lead) -> Cadence | None:
    """The cadence a lead follows: its product's, else its source's, else the default."""
    active = Cadence.objects.filter(is_active=True)
    product = (lead.product or "").strip().casefold()
    if product:
        # JSON containment is not portable (SQLite); there are a handful of cadences.
        for cadence in active.exclude(products=[]).order_by("name"):
            if product in {str(name).strip().casefold() for name in cadence.products}:
                return cadence
    if lead.source.cadence_id is not None:
        cadence = active.filter(pk=lead.source.cadence_id).first()
        if cadence is not None:
            return cadence
    return active.filter(is_default=True).first()


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _after(moment: datetime.datetime, minutes: int, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """`minutes` after `moment`: whole days on the local calendar, else elapsed time."""
    # In UTC: Python adds to an aware time in its own zone on the wall clock.
    moment = moment.astimezone(datetime.UTC)
    if minutes and minutes % MINUTES_PER_DAY == 0:
        local = moment.astimezone(zone).replace(tzinfo=None)
        shifted = (local + datetime.timedelta(days=minutes // MINUTES_PER_DAY)).replace(tzinfo=zone)
        return shifted.astimezone(datetime.UTC)
    return moment + datetime.timedelta(minutes=minutes)


def _on_a_weekday(moment: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The same local time on the next weekday, when `moment` falls on a weekend there."""
    local = moment.astimezone(zone)
    if local.weekday() < 5:
        return moment
    days = 7 - local.weekday()  # Saturday: 2, Sunday: 1
    moved = (local.replace(tzinfo=None) + datetime.timedelta(days=days)).replace(tzinfo=zone)
    return moved.astimezone(datetime.UTC)


def steps_due_times(
    *,
    steps: Sequence[CadenceStep],
    previous_at: datetime.datetime,
    intake_at: datetime.datetime,
    time_zone: str = "",
) -> list[datetime.datetime]:
    """When each step is due: cumulative delays in the lead's zone (see the module); never
    before the step ahead of it, nor before `previous_at`."""
    zone = _zone(time_zone)
    floor = previous_at
    times = []
    for step in steps:
        anchor = intake_at if step.delay_from == StepDelayFrom.INTAKE else previous_at
        due = max(_after(anchor, step.delay_minutes, zone), floor)
        if step.weekdays_only:
            due = _on_a_weekday(due, zone)
        times.append(due)
        previous_at = floor = due
    return times


def _consent_channels(lead: Lead) -> set[str]:
    channels: set[str] = set()
    for consent_channels in ConsentRecord.objects.filter(
        lead=lead, revoked_at__isnull=True
    ).values_list("channels", flat=True):
        channels.update(consent_channels or [])
    return channels


def _planning_skip_reason(step: CadenceStep, lead: Lead, consents: set[str]) -> str | None:
    channel = TOUCH_CHANNEL[step.channel]
    if channel == Channel.EMAIL and not lead.email:
        return "Skipped: the lead gave no email address."
    if channel in (Channel.SMS, Channel.CALL) and not lead.phone:
        return "Skipped: the lead gave no phone number."
    needed = CONSENT_CHANNEL.get(step.channel)
    if step.skip_without_consent and needed and needed not in consents:
        return f"Skipped: the lead gave no consent to {Channel(needed).label.lower()} contact."
    return None


def _messages(step: CadenceStep, context: dict) -> tuple[str, str]:
    """The step's subject (emails only) and body, rendered for one lead."""
    channel = TOUCH_CHANNEL[step.channel]
    limit = EMAIL_MAX if channel == Channel.EMAIL else SMS_MAX
    body = message_render(source=step.body_template, context=context, limit=limit)
    subject = ""
    if channel == Channel.EMAIL:
        subject = message_render(
            source=step.subject_template or "{{ business.name }}",
            context=context,
            kind="subject",
            limit=SUBJECT_MAX,
        )
    return subject, body


def _touches_plan(lead: Lead, steps: list[CadenceStep], times: list[datetime.datetime]) -> None:
    """Create each step's touch, due at its time, through the path its channel takes."""
    consents = _consent_channels(lead)
    context = context_for(lead=lead)
    unsent: list[Touch] = []  # skipped steps and calls: no gate now, stored in one insert
    for step, due_at in zip(steps, times, strict=True):
        channel = TOUCH_CHANNEL[step.channel]
        subject, body = _messages(step, context)
        if (reason := _planning_skip_reason(step, lead, consents)) is not None:
            unsent.append(
                Touch(
                    lead=lead,
                    channel=channel,
                    automated=step.channel != StepChannel.CALL_TASK,
                    body=body,
                    due_at=due_at,
                    status=TouchStatus.SKIPPED,
                    status_note=reason,
                    cadence_step=step,
                )
            )
        elif step.channel in (StepChannel.SMS, StepChannel.EMAIL):
            touch_schedule(
                lead=lead,
                channel=channel,
                body=body or fallback_message(kind="body"),
                subject=subject,
                due_at=due_at,
                cadence_step=step,
            )
        else:
            unsent.append(
                Touch(
                    lead=lead,
                    channel=Channel.CALL,
                    automated=step.channel == StepChannel.BRIDGE,
                    body=body or step.get_channel_display(),
                    due_at=due_at,
                    cadence_step=step,
                )
            )
    Touch.objects.bulk_create(unsent)


@transaction.atomic
def cadence_start(*, lead: Lead, at: datetime.datetime) -> CadenceEnrollment | None:
    """Enrol the lead in its cadence and plan every step as a touch; None if it has none.

    Called by the fast lane once the lead is routed (so templates name its rep). A lead is
    enrolled once: a second call returns the enrollment it has.
    """
    existing = CadenceEnrollment.objects.filter(lead=lead).first()
    if existing is not None or lead.status not in OPEN_STATUSES:
        return existing
    cadence = cadence_for_lead(lead=lead)
    if cadence is None:
        return None
    steps = list(cadence.steps.all())
    times = steps_due_times(
        steps=steps, previous_at=at, intake_at=lead.received_at, time_zone=lead.time_zone
    )
    enrollment = CadenceEnrollment.objects.create(
        lead=lead,
        cadence=cadence,
        started_at=at,
        next_position=len(steps),
        ends_at=times[-1] if times else at,
    )
    _touches_plan(lead, steps, times)
    return enrollment


def cadence_messages_render(*, lead: Lead) -> int:
    """Write the lead's cadence messages still to come anew, for its rep of now; return how
    many. Called when the lead changes hands, so a text names the rep who will call back."""
    waiting = list(
        _cadence_touches([lead.pk])
        .filter(status__in=(TouchStatus.SCHEDULED, TouchStatus.HELD))
        .exclude(channel=Channel.CALL)
        .select_related("cadence_step")
    )
    if not waiting:
        return 0
    context = context_for(lead=lead)
    for touch in waiting:
        touch.subject, touch.body = _messages(touch.cadence_step, context)
        touch.body = touch.body or fallback_message(kind="body")
    Touch.objects.bulk_update(waiting, ["subject", "body"])
    return len(waiting)


def _cadence_touches(lead_ids) -> QuerySet:
    return Touch.objects.filter(lead_id__in=lead_ids, cadence_step__isnull=False)


@transaction.atomic
def cadences_stop(*, leads: QuerySet, reason: str) -> int:
    """Stop these leads' cadences: their pending touches are cancelled, with the reason;
    return how many enrollments stopped."""
    reason = reason[:200]
    live = CadenceEnrollment.objects.filter(lead__in=leads, status__in=LIVE)
    lead_ids = list(live.select_for_update().values_list("lead_id", flat=True))
    if not lead_ids:
        return 0
    CadenceEnrollment.objects.filter(lead_id__in=lead_ids, status__in=LIVE).update(
        status=EnrollmentStatus.STOPPED, stop_reason=reason, updated_at=timezone.now()
    )
    _cadence_touches(lead_ids).filter(status__in=PENDING).update(
        status=TouchStatus.CANCELLED, status_note=f"Cadence stopped: {reason}"
    )
    return len(lead_ids)


def cadence_stop(*, lead: Lead, reason: str) -> bool:
    """Stop the lead's cadence (a reply, a contact, a sale, an opt-out, a final status);
    True if it was running or paused."""
    return bool(cadences_stop(leads=Lead.objects.filter(pk=lead.pk), reason=reason))


def cadences_stop_for_addresses(
    *, phones: Iterable[str] = (), emails: Iterable[str] = (), reason: str
) -> int:
    """Stop the cadences of every lead with one of these phone numbers or email addresses
    (an opt-out covers every lead of the person)."""
    phones = [phone for phone in phones if phone]
    emails = [email.strip().lower() for email in emails if email]
    if not phones and not emails:
        return 0
    leads = Lead.objects.filter(Q(phone__in=phones) | Q(email__in=emails))
    return cadences_stop(leads=leads, reason=reason)


def _name_of(user) -> str:
    if user is None:
        return "the system"
    return user.get_full_name() or user.get_username()


@transaction.atomic
def cadence_pause(*, lead: Lead, by) -> CadenceEnrollment:
    """Hold the lead's cadence: its pending touches wait, held, until it is resumed."""
    enrollment = CadenceEnrollment.objects.select_for_update().filter(lead=lead).first()
    if enrollment is None:
        raise CadenceError("This lead follows no cadence.")
    if enrollment.status != EnrollmentStatus.ACTIVE:
        raise CadenceError(f"The cadence is {enrollment.get_status_display().lower()}.")
    now = timezone.now()
    enrollment.status = EnrollmentStatus.PAUSED
    enrollment.stop_reason = f"Paused by {_name_of(by)}"[:200]
    enrollment.save(update_fields=["status", "stop_reason", "updated_at"])
    # A touch a send task has claimed already is past holding: the update waits for that
    # task and then finds the touch no longer queued.
    _cadence_touches([lead.pk]).filter(
        status__in=(TouchStatus.SCHEDULED, TouchStatus.QUEUED)
    ).update(
        status=TouchStatus.HELD,
        status_note=f"Held: {_name_of(by)} paused the cadence at {now:%Y-%m-%d %H:%M} UTC.",
    )
    return enrollment


@transaction.atomic
def cadence_resume(*, lead: Lead, by) -> CadenceEnrollment:
    """Restart a paused cadence: its held steps are planned again from now."""
    enrollment = (
        CadenceEnrollment.objects.select_for_update(of=("self",))
        .select_related("cadence")
        .filter(lead=lead)
        .first()
    )
    if enrollment is None:
        raise CadenceError("This lead follows no cadence.")
    if enrollment.status != EnrollmentStatus.PAUSED:
        raise CadenceError(f"The cadence is {enrollment.get_status_display().lower()}.")
    if lead.status not in OPEN_STATUSES:
        raise CadenceError(f"The lead is {lead.get_status_display().lower()}.")
    now = timezone.now()
    held = list(
        _cadence_touches([lead.pk])
        .filter(status=TouchStatus.HELD)
        .select_related("cadence_step")
        .order_by("cadence_step__position", "due_at", "pk")
    )
    # The held steps keep their spacing in the plan, moved so that the first is due now: a
    # pause delays what is left rather than sending it all at once on resuming.
    steps = list(enrollment.cadence.steps.all())
    planned = dict(
        zip(
            [step.pk for step in steps],
            steps_due_times(
                steps=steps,
                previous_at=enrollment.started_at,
                intake_at=lead.received_at,
                time_zone=lead.time_zone,
            ),
            strict=True,
        )
    )
    zone = _zone(lead.time_zone)
    times = [planned.get(touch.cadence_step_id, touch.due_at) for touch in held]
    shift = now - min(times, default=now)
    for touch, planned_at in zip(held, times, strict=True):
        due_at = planned_at + shift
        if touch.cadence_step.weekdays_only:
            due_at = _on_a_weekday(due_at, zone)
        touch.status, touch.due_at = TouchStatus.SCHEDULED, max(due_at, now)
        touch.status_note = f"Planned again when {_name_of(by)} resumed the cadence."
    Touch.objects.bulk_update(held, ["status", "due_at", "status_note"])
    enrollment.status, enrollment.stop_reason = EnrollmentStatus.ACTIVE, ""
    enrollment.ends_at = max([enrollment.ends_at or now, *(touch.due_at for touch in held)])
    enrollment.save(update_fields=["status", "stop_reason", "ends_at", "updated_at"])
    return enrollment


def cadence_steps_remove(*, steps: Iterable[CadenceStep]) -> int:
    """Delete steps from their cadence; the touches still to come for them are cancelled
    first (a touch whose step is gone would read as a rep's own). Return how many."""
    steps = [step for step in steps if step.pk is not None]
    with transaction.atomic():
        cancelled = Touch.objects.filter(cadence_step__in=steps, status__in=PENDING).update(
            status=TouchStatus.CANCELLED,
            status_note="Cancelled: its step was removed from the cadence.",
        )
        for step in steps:
            step.delete()
    return cancelled


def cadences_finish(*, now: datetime.datetime | None = None) -> int:
    """The clock: finish active enrollments whose last step's time has passed and that
    have nothing left to do; return how many."""
    now = now or timezone.now()
    pending = Touch.objects.filter(
        lead_id=OuterRef("lead_id"),
        cadence_step__isnull=False,
        status__in=(*PENDING, TouchStatus.SENDING),
    )
    done = list(
        CadenceEnrollment.objects.filter(status=EnrollmentStatus.ACTIVE, ends_at__lte=now)
        .filter(~Exists(pending))
        .order_by("ends_at")
        .values_list("pk", flat=True)[:FINISH_BATCH]
    )
    return CadenceEnrollment.objects.filter(pk__in=done, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.FINISHED, updated_at=now
    )


def cadence_plan(*, lead: Lead) -> tuple[CadenceEnrollment | None, list[Touch]]:
    """The lead's enrollment and its cadence's touches, in step order, for its page."""
    enrollment = CadenceEnrollment.objects.select_related("cadence").filter(lead=lead).first()
    if enrollment is None:
        return None, []
    touches = list(
        _cadence_touches([lead.pk])
        .select_related("cadence_step")
        .order_by("cadence_step__position", "due_at", "pk")
    )
    return enrollment, touches
