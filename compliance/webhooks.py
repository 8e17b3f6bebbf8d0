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


def _sender_and_text(request) -> tuple[str, str]:
    """Return the sender and the text of a form post or a JSON {"from", "body"} post."""
    if not _is_json(request):
        return request.POST.get("From", ""), request.POST.get("Body", "")
    message = json.loads(request.body)
    if not isinstance(message, dict):
        raise ValueError("not an object")
    return str(message.get("from") or ""), str(message.get("body") or "")


@csrf_exempt
@require_POST
def sms_inbound(request):
    """Receive one inbound text and answer with empty TwiML: replies go out as tasks."""
    auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    if auth_token and not _signature_matches(request, auth_token):
        return HttpResponseForbidden(
            "The X-Twilio-Signature header does not match this request.",
            content_type="text/plain",
        )
    try:
        sender, text = _sender_and_text(request)
    except ValueError:  # JSONDecodeError is a ValueError
        return HttpResponseBadRequest(
            'The body must be a form or a JSON object {"from", "body"}.',
            content_type="text/plain",
        )
    if not sender.strip():
        return HttpResponseBadRequest(
            "Missing From: the sender's phone number is required.", content_type="text/plain"
        )
    sms_reply_receive(from_phone=sender, body=text)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
