"""The lead-to-call bridge: ring a rep first, and dial the lead only once the rep pressed 1.

A bridge is an automated call touch (`Touch(channel="call", automated=True)`), planned by a
cadence. When it comes due the clock asks the gate (an automated call needs consent) and
defers, blocks or queues it; the task placing it asks the gate again and rings a rep: the
lead's owner when they are working and have a phone, else the rep routing would choose. The
rep hears who the lead is and presses 1; only then is the lead dialled and bridged to them,
so the lead never answers to silence. A rep who does not answer or press 1 passes it to the
next rep, up to VOICE_MAX_REPS. Twilio's callbacks record one ContactAttempt and end the
touch; each is keyed on the touch, the rep rung and the call's sid, so a repeated callback
or task changes nothing.

The voice rules (US; 47 CFR, summarised, not legal advice):

- Abandoned calls, 64.1200(a)(7): a call the person answers that is not connected to a live
  rep within 2 seconds of their greeting is abandoned (at most 3% of answered calls per
  campaign over 30 days). The lead is dialled from the rep's live call, so every answered
  call is connected at once: nothing pre-recorded is played to the lead before the rep
  except the recording notice below, a couple of seconds long.
- Ringing, 64.1200(a)(6): an unanswered call rings at least 15 seconds (or 4 rings);
  `lead_ring_seconds` never goes lower.
- Caller ID, 64.1601(e): VOICE_CALLER_ID, the business number people can call back to ask
  not to be called, is shown on both legs.
- Identification, 64.1200(d)(4): the caller gives their name, the seller's name and a
  number. The rep is prompted to say them live as the lead answers; a machine saying them
  first would hold the lead past the 2 seconds above and make every call abandoned.
- Artificial voice, 64.1200(a)(2), (b): marketing calls with an artificial voice need prior
  express written consent (the gate requires consent for every automated call) and such a
  message names the business at its start, as the recording notice does.
- Recording: all-party-consent states need every party's consent, so recording is announced
  at the start of the lead's leg (`recording_notice_needed`). With VOICE_RECORDING_NOTICE
  "always" (the default) every recorded call is announced, because a lead's stated state
  may not be where they are; "all_party_states" announces only to leads in those states.
"""

import datetime
import logging
from dataclasses import dataclass

import requests
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException

from compliance.gate import Decision, contact_check
from compliance.models import DecisionStage
from crm.telephony import voice_backend
from leads.cadences.outbound import touch_refusal_follow
from leads.choices import Channel
from leads.models import Disposition, Lead, RepProfile, Touch, TouchStatus
from leads.workspace.calls import call_attempt_record, call_outcome_record
from leads.workspace.routing import rep_for_lead

logger = logging.getLogger(__name__)

PLACE_TASK = "leads.tasks.place_bridge_call"  # queued by name: the tasks module calls us
DISPATCH_BATCH = 200
# A bridge handed to a task that has not started within this long is queued again.
REQUEUE_AFTER = datetime.timedelta(minutes=10)
# A bridge still placing this long after it was queued has lost a callback (a rep's call
# rings, is prompted and is answered within a couple of minutes; a talk may last longer,
# and is left until Twilio says it has ended).
SETTLE_AFTER = datetime.timedelta(minutes=15)
SETTLE_BATCH = 50
MIN_RING_SECONDS = 15  # 47 CFR 64.1200(a)(6)
ATTEMPT_NOTE = "Lead-to-call bridge"
LEG_SALT = "leads.voice.bridge.leg"
# States whose laws need every party's consent to record a call: the nine the voice rules
# name, and CT, DE, MI, NV and OR, which some readings of their laws add for phone calls.
ALL_PARTY_CONSENT_STATES = frozenset(
    {"CA", "CT", "DE", "FL", "IL", "MA", "MD", "MI", "MT", "NH", "NV", "OR", "PA", "WA"}
)
# Twilio's DialCallStatus: how the lead's leg ended.
CONNECTED = frozenset({"completed", "answered"})
NOT_REACHED = {"no-answer": Disposition.NO_ANSWER, "busy": Disposition.BUSY}
DIAL_STATUSES = CONNECTED | set(NOT_REACHED) | {"failed", "canceled"}
CALL_ENDED = frozenset({"completed", "no-answer", "busy", "failed", "canceled"})
CALL_STATUSES = CALL_ENDED | {"queued", "initiated", "ringing", "in-progress"}
CALL_STATUS_WORDS = {
    "completed": "hung up without pressing 1",
    "no-answer": "did not answer",
    "busy": "was busy",
    "failed": "could not be rung",
    "canceled": "was not rung (cancelled)",
}


class BridgeTemporaryError(Exception):
    """Twilio could not take the call now; the task tries again later."""


@dataclass(frozen=True)
class Leg:
    """One rep's call of a bridge: the touch and the rep rung. Its token goes in the
    callback URLs, so a callback of an earlier rep's call is told from the current one."""

    touch_id: int
    rep_id: int

    @property
    def token(self) -> str:
        return signing.dumps([self.touch_id, self.rep_id], salt=LEG_SALT)

    @classmethod
    def from_token(cls, token: str) -> "Leg | None":
        try:
            touch_id, rep_id = signing.loads(token, salt=LEG_SALT)
        except (signing.BadSignature, ValueError, TypeError):
            return None
        if not (isinstance(touch_id, int) and isinstance(rep_id, int)):
            return None
        return cls(touch_id, rep_id)

    def url(self, name: str) -> str:
        """The absolute URL Twilio is to call for this leg (the signature covers it)."""
        return settings.SITE_URL + reverse(name, kwargs={"token": self.token})


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def lead_ring_seconds() -> int:
    return max(settings.VOICE_LEAD_RING_SECONDS, MIN_RING_SECONDS)


def rep_ring_seconds() -> int:
    return max(settings.VOICE_REP_RING_SECONDS, MIN_RING_SECONDS)


def recording_notice_needed(lead: Lead) -> bool:
    """Say whether the lead's leg starts with the recording notice."""
    if not settings.VOICE_RECORD_CALLS:
        return False
    if settings.VOICE_RECORDING_NOTICE == "all_party_states":
        return lead.state in ALL_PARTY_CONSENT_STATES
    return True


def _follow(touch: Touch, decision: Decision) -> None:
    """Defer or block a bridge the gate refused; save it."""
    touch_refusal_follow(touch, decision)
    touch.save(update_fields=["status", "due_at", "deferrals", "status_note"])


def _queue(touch: Touch, *, now: datetime.datetime, note: str = "") -> None:
    touch.status, touch.queued_at, touch.status_note = TouchStatus.QUEUED, now, note
    touch.save(update_fields=["status", "queued_at", "status_note", "bridge_reps"])
    transaction.on_commit(lambda pk=touch.pk: current_app.signature(PLACE_TASK, args=[pk]).delay())


def _bridges():
    return Touch.objects.filter(channel=Channel.CALL, automated=True)


def bridge_touches_dispatch(*, now: datetime.datetime | None = None) -> int:
    """One tick of the clock: ask the gate for each bridge that is due and queue, defer or
    block it; queue again those whose task was lost. Return how many were handled.

    Rows are claimed with SKIP LOCKED, so two clocks never hand out the same bridge.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            _bridges()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("lead")
            .filter(status=TouchStatus.SCHEDULED, due_at__lte=now)
            .order_by("due_at")[:DISPATCH_BATCH]
        )
        for touch in due:
            decision, _ = contact_check(
                lead=touch.lead,
                channel=Channel.CALL,
                stage=DecisionStage.SENDING,
                at=now,
                purpose=touch.purpose,
                automated=True,
                touch=touch,
            )
            if decision.allowed:
                _queue(touch, now=now)
            else:
                _follow(touch, decision)
        lost = list(
            _bridges()
            .select_for_update(skip_locked=True)
            .filter(status=TouchStatus.QUEUED, queued_at__lte=now - REQUEUE_AFTER)
            .order_by("queued_at")[:DISPATCH_BATCH]
        )
        for touch in lost:
            _queue(touch, now=now, note=touch.status_note)
    return len(due) + len(lost)


def stale_bridges_settle(*, now: datetime.datetime | None = None) -> int:
    """The clock's safety net for Twilio's callbacks: ask Twilio how each bridge still
    placing long after it was queued has gone, and settle it as its callback would have.
    Return how many were settled.

    A rep's call that ended without the rep pressing 1 passes the lead on; one where the
    lead was dialled ends the touch and leaves the attempt for the rep's outcome. A bridge
    without a call sid (the task stopped between claiming it and Twilio's answer) may or
    may not have rung: it is marked unknown, never rung again blindly.
    """
    now = now or timezone.now()
    stale = list(
        _bridges()
        .filter(status=TouchStatus.SENDING, queued_at__lte=now - SETTLE_AFTER)
        .order_by("queued_at")
        .values_list("pk", "provider_message_id")[:SETTLE_BATCH]
    )
    if not stale:
        return 0
    backend, settled = voice_backend(), 0
    for touch_id, sid in stale:
        try:
            call_status = backend.status(sid) if sid else ""
        except (TwilioRestException, requests.RequestException) as error:
            logger.warning(
                "Bridge %s: Twilio could not say how call %s went: %s", touch_id, sid, error
            )
            continue
        if sid and call_status not in CALL_ENDED:
            # Still ringing or talking: ask again a while later, not every tick.
            _bridges().filter(pk=touch_id, status=TouchStatus.SENDING).update(queued_at=now)
            continue
        with transaction.atomic():
            touch = (
                _bridges()
                .select_for_update(skip_locked=True)
                .filter(pk=touch_id, status=TouchStatus.SENDING, provider_message_id=sid)
                .first()
            )
            if touch is None:
                continue
            if not sid:
                touch.status = TouchStatus.UNKNOWN
                touch.status_note = "Interrupted while ringing a rep: unknown whether it rang."
            elif touch.attempt_id is None:
                words = CALL_STATUS_WORDS.get(call_status, call_status)
                _pass_on(touch, why=f"The rep's call {words} (Twilio never said).", now=now)
                settled += 1
                continue
            else:
                touch.status, touch.sent_at = TouchStatus.SENT, now
                touch.status_note = (
                    f"{ATTEMPT_NOTE}: the call has ended; Twilio never reported the lead's leg."
                )
            touch.save(update_fields=["status", "status_note", "sent_at"])
            settled += 1
    return settled


def _rep_to_ring(touch: Touch, *, now: datetime.datetime) -> RepProfile | None:
    """The lead's owner when working, reachable and not yet rung; else routing's choice
    among the reps with a phone not yet rung. Call inside a transaction."""
    lead, tried = touch.lead, set(touch.bridge_reps)
    owner = (
        RepProfile.objects.select_related("user")
        .filter(user_id=lead.owner_id, is_active=True, user__is_active=True)
        .exclude(phone="")
        .first()
        if lead.owner_id
        else None
    )
    if owner is not None and owner.user_id not in tried and owner.is_working_at(now):
        return owner
    unreachable = RepProfile.objects.filter(phone="").values_list("user_id", flat=True)
    return rep_for_lead(lead=lead, at=now, exclude=tried | set(unreachable))


def _give_up(touch: Touch, why: str) -> None:
    touch.status, touch.status_note = TouchStatus.FAILED, why
    touch.save(update_fields=["status", "status_note", "bridge_reps"])
    logger.info("Bridge %s failed: %s", touch.pk, why)


def _pass_on(touch: Touch, *, why: str, now: datetime.datetime) -> None:
    """The rep rung did not take the lead: ring the next one, or give up at the limit."""
    if len(touch.bridge_reps) >= settings.VOICE_MAX_REPS:
        _give_up(touch, f"{why} No rep took the call ({len(touch.bridge_reps)} rung).")
    else:
        _queue(touch, now=now, note=f"{why} Ringing the next rep.")


def bridge_call_place(*, touch_id: int) -> Touch | None:
    """Ring a rep for a queued bridge, asking the gate again at this instant.

    Returns the touch, or None when it is not queued (another task has it, or it is done):
    a retried or repeated task never rings twice.
    """
    now = timezone.now()
    backend = voice_backend()  # misconfigured: fail before the touch is claimed
    claimed = (
        _bridges()
        .filter(pk=touch_id, status=TouchStatus.QUEUED)
        # queued_at restarts: the safety net (stale_bridges_settle) counts from the claim.
        .update(status=TouchStatus.SENDING, queued_at=now, send_attempts=F("send_attempts") + 1)
    )
    if not claimed:
        return None
    with transaction.atomic():
        touch = _bridges().select_for_update().select_related("lead").get(pk=touch_id)
        decision, _ = contact_check(
            lead=touch.lead,
            channel=Channel.CALL,
            stage=DecisionStage.SENDING,
            at=now,
            purpose=touch.purpose,
            automated=True,
            touch=touch,
        )
        if not decision.allowed:
            _follow(touch, decision)
            return touch
        rep = _rep_to_ring(touch, now=now)
        if rep is None:
            _give_up(touch, "No rep with a phone is working now to take the call.")
            return touch
        touch.bridge_reps = [*touch.bridge_reps, rep.user_id]
        touch.provider_message_id = ""
        touch.status_note = f"Ringing {rep}."
        touch.save(update_fields=["bridge_reps", "provider_message_id", "status_note"])
    # Outside the transaction: a slow provider must not hold the row lock or a connection.
    leg = Leg(touch.pk, rep.user_id)
    try:
        sid = backend.call(
            to=str(rep.phone),
            from_=settings.VOICE_CALLER_ID,
            url=leg.url("voice_rep_answer"),
            status_callback=leg.url("voice_rep_status"),
            timeout=rep_ring_seconds(),
        )
    except (TwilioRestException, requests.ConnectionError) as error:
        status = getattr(error, "status", None)
        if status is None or status == 429 or status >= 500:
            touch.bridge_reps = touch.bridge_reps[:-1]  # not rung: the retry may ring them
            _queue_for_retry(touch, note=f"Twilio busy, will retry: {error}")
            raise BridgeTemporaryError(str(error)) from error
        with transaction.atomic():
            _pass_on(touch, why=f"Twilio refused the call to {rep}: {error}.", now=now)
        return touch
    except requests.Timeout as error:
        # The request went out: Twilio may have placed the call. Never ring again blindly.
        touch.status = TouchStatus.UNKNOWN
        touch.status_note = f"No answer from Twilio while placing the call to {rep}: {error}"
        touch.save(update_fields=["status", "status_note"])
        return touch
    touch.provider_message_id = sid[:100]
    fields = ["provider_message_id"]
    if not backend.places_calls:
        touch.status, touch.sent_at = TouchStatus.SENT, timezone.now()
        touch.status_note = (
            f"Not placed: the console voice backend logged a call to {rep}. "
            "Set VOICE_BACKEND=crm.telephony.TwilioVoiceBackend to place calls."
        )
        fields += ["status", "sent_at", "status_note"]
    touch.save(update_fields=fields)
    logger.info("Bridge %s: ringing rep %s (%s).", touch.pk, rep.user_id, sid)
    return touch


def _queue_for_retry(touch: Touch, *, note: str) -> None:
    touch.status, touch.status_note = TouchStatus.QUEUED, note
    touch.save(update_fields=["status", "status_note", "bridge_reps"])


@dataclass(frozen=True)
class Bridge:
    """A live bridge's call, as the TwiML needs it."""

    touch: Touch
    lead: Lead
    rep: object  # the user rung


def _live(leg: Leg, call_sid: str, *, lock: bool = False) -> Touch | None:
    """The bridge this leg belongs to, while it is the current call: this rep rung last,
    this call's sid, still placing."""
    touches = _bridges().select_related("lead", "lead__source")
    if lock:
        touches = touches.select_for_update(of=("self",))
    touch = touches.filter(pk=leg.touch_id, status=TouchStatus.SENDING).first()
    if touch is None or not touch.bridge_reps or touch.bridge_reps[-1] != leg.rep_id:
        return None
    # The sid is saved just after Twilio accepted the call; a callback may beat the save.
    if touch.provider_message_id not in ("", call_sid):
        return None
    return touch


def bridge_rep_answered(*, leg: Leg, call_sid: str) -> Bridge | None:
    """The rep picked up: who they are to be told about, or None when the call is stale."""
    touch = _live(leg, call_sid)
    if touch is None:
        return None
    return Bridge(touch, touch.lead, get_user_model().objects.get(pk=leg.rep_id))


@transaction.atomic
def bridge_rep_accept(*, leg: Leg, call_sid: str) -> Bridge | None:
    """The rep pressed 1: log the call to the lead as it is dialled, once; return what the
    dial needs, or None when the call is stale or the gate now refuses it (then it waits
    or is blocked)."""
    touch = _live(leg, call_sid, lock=True)
    if touch is None:
        return None
    rep = get_user_model().objects.get(pk=leg.rep_id)
    if touch.attempt_id is None:
        decision, record = contact_check(
            lead=touch.lead,
            channel=Channel.CALL,
            stage=DecisionStage.SENDING,
            purpose=touch.purpose,
            automated=True,
            touch=touch,
        )
        if not decision.allowed:
            _follow(touch, decision)
            return None
        lead = Lead.objects.select_for_update().get(pk=touch.lead_id)
        attempt = call_attempt_record(lead=lead, rep=rep, notes=ATTEMPT_NOTE, touch=touch)
        record.attempt = attempt
        record.save(update_fields=["attempt"])
        touch.provider_message_id = call_sid
        touch.status_note = f"{_name(rep)} is calling the lead."
        touch.save(update_fields=["provider_message_id", "status_note"])
    return Bridge(touch, touch.lead, rep)


@transaction.atomic
def bridge_rep_declined(*, leg: Leg, call_sid: str, why: str) -> None:
    """The rep answered but did not press 1: pass the lead on."""
    touch = _live(leg, call_sid, lock=True)
    if touch is not None and touch.attempt_id is None:
        _pass_on(touch, why=why, now=timezone.now())


@transaction.atomic
def bridge_rep_call_ended(*, leg: Leg, call_sid: str, call_status: str) -> None:
    """Twilio's status callback for the rep's call. Unless the rep pressed 1 (the dial's
    report ends those), the lead passes to the next rep."""
    if call_status not in CALL_ENDED:
        return
    touch = _live(leg, call_sid, lock=True)
    if touch is None or touch.attempt_id is not None:
        return
    rep = get_user_model().objects.get(pk=leg.rep_id)
    words = CALL_STATUS_WORDS.get(call_status, f"ended ({call_status})")
    _pass_on(touch, why=f"{_name(rep)} {words}.", now=timezone.now())


@transaction.atomic
def bridge_lead_call_ended(
    *, leg: Leg, call_sid: str, dial_status: str, talk_seconds: int
) -> Bridge | None:
    """The lead's leg ended (Twilio's dial action): close the call's attempt and end the
    touch, once. A connected call keeps no outcome: the rep records it on the lead's page.
    Return the bridge when this report closed it, else None."""
    touches = _bridges().select_for_update(of=("self",)).select_related("lead", "attempt")
    touch = touches.filter(pk=leg.touch_id, status=TouchStatus.SENDING).first()
    if (
        touch is None
        or touch.attempt is None
        or touch.bridge_reps[-1:] != [leg.rep_id]
        or touch.provider_message_id != call_sid
    ):
        return None
    rep = get_user_model().objects.get(pk=leg.rep_id)
    attempt, now = touch.attempt, timezone.now()
    attempt.ended_at = max(now, attempt.started_at)
    connected = dial_status in CONNECTED
    attempt.duration_seconds = talk_seconds if connected else 0
    if connected:
        attempt.notes = f"{ATTEMPT_NOTE}: connected with {_name(rep)}."
        attempt.save()
    elif dial_status in NOT_REACHED:
        call_outcome_record(
            attempt=attempt,
            disposition=NOT_REACHED[dial_status],
            notes=f"{ATTEMPT_NOTE}: the lead {CALL_STATUS_WORDS[dial_status]}.",
            rep=rep,
        )
    else:
        # Failed: most often the number does not exist, but a carrier's fault looks the
        # same; the rep, who heard it, records the outcome.
        attempt.notes = f"{ATTEMPT_NOTE}: the call to the lead {CALL_STATUS_WORDS[dial_status]}."
        attempt.save()
    touch.status = TouchStatus.FAILED if dial_status == "failed" else TouchStatus.SENT
    touch.sent_at = attempt.started_at
    touch.status_note = attempt.notes
    touch.save(update_fields=["status", "sent_at", "status_note"])
    return Bridge(touch, touch.lead, rep)
