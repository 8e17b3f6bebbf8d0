"""The SMS provider's webhook: a text arrived from a lead (or anyone)."""

import base64
import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from compliance.inbound import sms_reply_receive
from leads.normalize import InvalidField
from leads.validators import unstorable_text_problem

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def twilio_signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """Return Twilio's signature: HMAC-SHA1 of the URL and the sorted POST params, base64."""
    signed = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(params[name]))
    )
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _is_json(request) -> bool:
    return request.content_type == "application/json"


def _signature_matches(request, auth_token: str) -> bool:
    # A JSON body is signed through the bodySHA256 query parameter, not as params.
    if _is_json(request):
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(request.GET.get("bodySHA256", ""), body_hash):
            return False
        params = {}
    else:
        params = dict(request.POST.lists())
    expected = twilio_signature(auth_token, request.build_absolute_uri(), params)
    return hmac.compare_digest(request.headers.get("X-Twilio-Signature", ""), expected)


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


def _unsigned_refusal(request) -> HttpResponseForbidden | None:
    """Refuse a post Twilio did not sign. Unsigned posts are taken only in development
    (DEBUG on, no TWILIO_AUTH_TOKEN): otherwise anyone could opt a number out, lift an
    opt-out with START, or have HELP answers sent to any number at the business's cost."""
    auth_token = settings.TWILIO_AUTH_TOKEN
    if not auth_token:
        if settings.DEBUG:
            return None
        return HttpResponseForbidden(
            "Inbound texts are refused until TWILIO_AUTH_TOKEN is set to verify them.",
            content_type="text/plain",
        )
    if not _signature_matches(request, auth_token):
        return HttpResponseForbidden(
            "The X-Twilio-Signature header does not match this request.",
            content_type="text/plain",
        )
    return None


@csrf_exempt
@require_POST
def sms_inbound(request):
    """Receive one inbound text and answer with empty TwiML: replies go out as tasks."""
    if refusal := _unsigned_refusal(request):
        return refusal
    try:
        sender, text = _sender_and_text(request)
        sms_reply_receive(from_phone=sender, body=text)
    except (UnreadableText, InvalidField) as problem:
        return HttpResponseBadRequest(str(problem), content_type="text/plain")
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
