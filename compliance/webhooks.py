"""The SMS provider's webhook: a text arrived from a lead (or anyone)."""

import json

from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from compliance.inbound import sms_reply_receive
from crm.telephony import twilio_unsigned_refusal
from leads.normalize import InvalidField
from leads.validators import unstorable_text_problem

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _is_json(request) -> bool:
    return request.content_type == "application/json"


class UnreadableText(ValueError):
    """The post cannot be read as one text message; the message says why."""


def _sender_and_text(request) -> tuple[str, str]:
    """Return the sender and the text of a form post or a JSON {"from", "body"} post."""
    if _is_json(request):
        try:
            message = json.loads(request.body)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            message = None
        if not isinstance(message, dict) or not all(
            isinstance(message.get(name, ""), str) for name in ("from", "body")
        ):
            raise UnreadableText('The body must be a form or a JSON object {"from", "body"}.')
        sender, text = message.get("from", ""), message.get("body", "")
    else:
        sender, text = request.POST.get("From", ""), request.POST.get("Body", "")
    for name, value in (("From", sender), ("Body", text)):
        if problem := unstorable_text_problem(value):
            raise UnreadableText(f"{name}: {problem}")
    if not sender.strip():
        raise UnreadableText("Missing From: the sender's phone number is required.")
    return sender, text


@csrf_exempt
@require_POST
def sms_inbound(request):
    """Receive one inbound text and answer with empty TwiML: replies go out as tasks."""
    if refusal := twilio_unsigned_refusal(request):
        return refusal
    try:
        sender, text = _sender_and_text(request)
        sms_reply_receive(from_phone=sender, body=text)
    except (UnreadableText, InvalidField) as problem:
        return HttpResponseBadRequest(str(problem), content_type="text/plain")
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
