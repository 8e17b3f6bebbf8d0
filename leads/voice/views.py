"""Twilio's webhooks for the lead-to-call bridge: TwiML for each step, and its reports.

Every request must carry Twilio's X-Twilio-Signature over the URL Leadline gave it (built on
SITE_URL) and the posted parameters; anything else is a 403. Unsigned requests are taken
only in development (DEBUG on and no TWILIO_AUTH_TOKEN), as the SMS webhook does.
"""

import re

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import VoiceResponse

from crm.telephony import twilio_unsigned_refusal
from leads.voice.bridge import (
    CALL_STATUSES,
    DIAL_STATUSES,
    Bridge,
    Leg,
    bridge_lead_call_ended,
    bridge_rep_accept,
    bridge_rep_answered,
    bridge_rep_call_ended,
    bridge_rep_declined,
    lead_ring_seconds,
    recording_notice_needed,
)

CALL_SID = re.compile(r"CA[0-9a-f]{32}")
GATHER_SECONDS = 8
MAX_CALL_SECONDS = 24 * 3600


class BadParameter(ValueError):
    """A parameter Twilio would never send; the message names it."""


def _refusal(request) -> HttpResponseForbidden | None:
    # Twilio signs the URL it was given, which Leadline builds on SITE_URL; a proxy in
    # front may change the scheme or host this process sees.
    url = (settings.SITE_URL + request.get_full_path()) if settings.SITE_URL else None
    return twilio_unsigned_refusal(request, url=url)


def _call_sid(request, name: str = "CallSid") -> str:
    value = request.POST.get(name, "")
    if not CALL_SID.fullmatch(value):
        raise BadParameter(f"{name}: expected a call sid (CA and 32 hex digits).")
    return value


def _choice(request, name: str, allowed) -> str:
    value = request.POST.get(name, "")
    if value not in allowed:
        raise BadParameter(f"{name}: expected one of {', '.join(sorted(allowed))}.")
    return value


def _seconds(request, name: str) -> int:
    value = request.POST.get(name, "") or "0"
    if not value.isascii() or not value.isdigit() or int(value) > MAX_CALL_SECONDS:
        raise BadParameter(f"{name}: expected a number of seconds.")
    return int(value)


def twilio_webhook(view):
    """Verify the signature, find the leg in the URL, answer TwiML; a bad parameter is a
    400 naming it."""

    @csrf_exempt
    @require_POST
    def wrapped(request, token):
        if refusal := _refusal(request):
            return refusal
        leg = Leg.from_token(token)
        if leg is None:
            raise Http404("No such bridge call.")
        try:
            response = view(request, leg)
        except BadParameter as problem:
            return HttpResponseBadRequest(str(problem), content_type="text/plain")
        return HttpResponse(str(response), content_type="text/xml")

    wrapped.__name__ = wrapped.__qualname__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _spoken_digits(number: str) -> str:
    # Said one digit at a time, so the rep can repeat it.
    return " ".join(number.removeprefix("+1"))


def _goodbye(message: str) -> VoiceResponse:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return response


@twilio_webhook
def rep_answer(request, leg: Leg):
    """The rep picked up: who the lead is, what to say, and press 1 to call them."""
    bridge = bridge_rep_answered(leg=leg, call_sid=_call_sid(request))
    if bridge is None:
        return _goodbye("This lead no longer needs a call. Goodbye.")
    lead = bridge.lead
    about = ", ".join(
        part
        for part in (
            lead.first_name or "a lead",
            f"in {lead.city}" if lead.city else "",
            f"about {lead.product}" if lead.product else "",
            f"from {lead.source.name}",
        )
        if part
    )
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        action=leg.url("voice_rep_choice"),
        method="POST",
        timeout=GATHER_SECONDS,
        action_on_empty_result=False,
    )
    gather.say(f"New lead for you: {about}.")
    # 47 CFR 64.1200(d)(4): the caller's name, the seller's and a number, said live.
    gather.say(
        f"When they answer, say your name, {settings.BUSINESS_NAME}, and our number, "
        f"{_spoken_digits(settings.VOICE_CALLER_ID)}."
    )
    gather.say("Press 1 to call them now.")
    # No key pressed: Twilio goes on here; the call's end passes the lead to the next rep.
    response.say("No key pressed. The lead goes to the next rep. Goodbye.")
    response.hangup()
    return response


@twilio_webhook
def rep_choice(request, leg: Leg):
    """The rep's key: 1 dials the lead and bridges them; anything else passes it on."""
    call_sid = _call_sid(request)
    if request.POST.get("Digits", "") != "1":
        bridge_rep_declined(leg=leg, call_sid=call_sid, why="The rep did not press 1.")
        return _goodbye("The lead goes to the next rep. Goodbye.")
    bridge = bridge_rep_accept(leg=leg, call_sid=call_sid)
    if bridge is None:
        return _goodbye("This lead may not be called now. Goodbye.")
    return _dial(bridge, leg)


def _dial(bridge: Bridge, leg: Leg) -> VoiceResponse:
    response = VoiceResponse()
    recorded = settings.VOICE_RECORD_CALLS
    if recorded:
        response.say("This call is recorded.")
    dial = response.dial(
        caller_id=settings.VOICE_CALLER_ID,
        timeout=lead_ring_seconds(),
        record="record-from-answer-dual" if recorded else "do-not-record",
        action=leg.url("voice_lead_ended"),
        method="POST",
    )
    whisper = leg.url("voice_lead_notice") if recording_notice_needed(bridge.lead) else None
    dial.number(str(bridge.lead.phone), url=whisper, method="POST" if whisper else None)
    return response


@twilio_webhook
def lead_notice(request, leg: Leg):
    """Played to the lead as they answer, before the rep is connected: the recording
    notice only, a couple of seconds, so the call is not abandoned (voice.py)."""
    response = VoiceResponse()
    response.say(f"{settings.BUSINESS_NAME}. This call is recorded.")
    return response


@twilio_webhook
def lead_ended(request, leg: Leg):
    """The dial's report: how the lead's leg ended; close the attempt and the touch."""
    dial_status = _choice(request, "DialCallStatus", DIAL_STATUSES)
    bridge_lead_call_ended(
        leg=leg,
        call_sid=_call_sid(request),
        dial_status=dial_status,
        talk_seconds=_seconds(request, "DialCallDuration"),
    )
    if dial_status in ("completed", "answered", "canceled"):
        response = VoiceResponse()
        response.hangup()
        return response
    return _goodbye("The lead did not answer. It is logged on their page. Goodbye.")


@twilio_webhook
def rep_status(request, leg: Leg):
    """The rep's call ended: unless they took the lead, it passes to the next rep."""
    bridge_rep_call_ended(
        leg=leg,
        call_sid=_call_sid(request),
        call_status=_choice(request, "CallStatus", CALL_STATUSES),
    )
    return VoiceResponse()
