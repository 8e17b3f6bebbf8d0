"""The SMS provider's delivery reports (status callbacks), signed by the provider."""

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.telephony import twilio_unsigned_refusal
from leads.cadences.channels import status_callback_touch_id
from leads.cadences.delivery import UnknownMessage, sms_status_record
from leads.validators import unstorable_text_problem

SID_MAX_LENGTH = 64


@csrf_exempt
@require_POST
def sms_status(request, token: str):
    """Take one delivery report for the text whose signed id the URL carries."""
    if refusal := twilio_unsigned_refusal(request):
        return refusal
    touch_id = status_callback_touch_id(token)
    if touch_id is None:
        return HttpResponseNotFound("No such text.", content_type="text/plain")
    fields = {name: request.POST.get(name, "") for name in ("MessageSid", "MessageStatus")}
    for name, value in fields.items():
        if not value.strip():
            return _bad(f"{name}: This field is required.")
        problem = unstorable_text_problem(value)
        if not problem and len(value) > SID_MAX_LENGTH:
            problem = f"At most {SID_MAX_LENGTH} characters."
        if problem:
            return _bad(f"{name}: {problem}")
    error_code = request.POST.get("ErrorCode", "").strip()
    if error_code and not (error_code.isascii() and error_code.isdigit() and len(error_code) < 9):
        return _bad("ErrorCode: must be a number.")
    try:
        status = sms_status_record(
            touch_id=touch_id,
            message_sid=fields["MessageSid"],
            status=fields["MessageStatus"].strip().lower(),
            error_code=int(error_code) if error_code else None,
        )
    except UnknownMessage as problem:
        return HttpResponseNotFound(str(problem), content_type="text/plain")
    return HttpResponse(f"Touch is {status}.", content_type="text/plain")


def _bad(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain")
