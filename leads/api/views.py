"""The lead sources' API: deliver leads one at a time or in batches."""

import io

from django.conf import settings
from django.http import HttpResponse, QueryDict
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError, Throttled, UnsupportedMediaType
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api import schema
from leads.api.authentication import IsActiveSource, SourceKeyAuthentication, presented_api_key
from leads.api.parsers import SafeJSONParser
from leads.api.throttling import SourceRateThrottle, source_request_count
from leads.intake.payload import CONSENT_LIST_FIELDS
from leads.intake.service import ACCEPTED, DUPLICATE, REJECTED, lead_accept, leads_accept
from leads.models import LeadSource
from leads.sources import source_for_api_key

SINGLE_MAX_BYTES = 64 * 1024
BATCH_MAX_BYTES = 8 * 1024 * 1024
BATCH_MAX_LEADS = 1000
LIST_FORM_FIELDS = {f"consent_{name}" for name in CONSENT_LIST_FIELDS}

COMMON_RESPONSES = {
    400: OpenApiResponse(schema.Rejected, description="The body is not JSON or a form."),
    401: OpenApiResponse(schema.Problem, description="Missing or unknown API key."),
    403: OpenApiResponse(schema.Problem, description="This source is paused."),
    413: OpenApiResponse(schema.Problem, description="The body is too large."),
    429: OpenApiResponse(schema.Problem, description="Too many requests; see Retry-After."),
}


def _bad_body_answer(message: str) -> dict:
    return {"status": REJECTED, "errors": {"body": [message]}, "reasons": ["invalid"]}


def _bad_body(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response(_bad_body_answer(message), code)


def _too_large_answer(max_bytes: int) -> dict:
    return {"detail": f"The body is larger than {max_bytes:,} bytes."}


def _flat_form(data: QueryDict) -> dict:
    return {key: data.getlist(key) if key in LIST_FORM_FIELDS else data.get(key) for key in data}


class IntakeView(APIView):
    authentication_classes = [SourceKeyAuthentication]
    permission_classes = [IsActiveSource]
    throttle_classes = [SourceRateThrottle]
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]
    max_bytes = SINGLE_MAX_BYTES

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.body_too_large = int(request.META.get("CONTENT_LENGTH") or 0) > self.max_bytes

    def request_data(self, request):
        """Return the parsed body, or a Response explaining why it cannot be read."""
        if self.body_too_large:
            return Response(
                _too_large_answer(self.max_bytes), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        try:
            data = request.data
        except ParseError as error:
            return _bad_body(str(error.detail))
        except UnsupportedMediaType:
            return _bad_body(
                "Send application/json or application/x-www-form-urlencoded.",
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        return _flat_form(data) if isinstance(data, QueryDict) else data


class LeadIntakeView(IntakeView):
    @extend_schema(
        operation_id="leads_create",
        summary="Deliver one lead",
        description="Answers at once. 201 when stored (accepted, or a duplicate of an earlier "
        "lead by phone or email); 200 with the same body when this source_lead_id was "
        "delivered before (nothing new is stored); 422 naming every problem. A 2xx means the "
        "lead and its consent record are committed.",
        request={"application/json": schema.LeadIn, "application/x-www-form-urlencoded": None},
        responses={
            201: schema.LeadOut,
            200: OpenApiResponse(schema.LeadOut, description="A replay: delivered before."),
            422: schema.Rejected,
            **COMMON_RESPONSES,
        },
        examples=schema.EXAMPLES,
        tags=["leads"],
    )
    def post(self, request):
        data = self.request_data(request)
        if isinstance(data, Response):
            return data
        result = lead_accept(source=request.user.source, payload=data)
        return Response(result.as_dict(), status=result.http_status)


# The hot path: a source POSTing one lead as JSON. DRF's request handling costs as much as
# the rest of such a request, so `LeadIntakeMiddleware` answers it with `plain_lead_post`,
# with the same answers, status codes and headers as the DRF view; anything else is left to
# that view.
PLAIN_ACCEPT = {"", "*/*", "application/json"}


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _plain_post_source(request) -> LeadSource | None:
    """Return the active source of a plain JSON POST; None leaves the request to DRF."""
    if request.method != "POST" or request.content_type != "application/json":
        return None
    if request.content_params.get("charset", "utf-8").lower() != "utf-8":
        return None
    if request.META.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT or _content_length(request) <= 0:
        return None
    source = source_for_api_key(presented_api_key(request))
    return source if source is not None and source.is_active else None


def _answer(body: dict, status_code: int, headers: dict | None = None) -> HttpResponse:
    content = JSONRenderer().render(body)
    return HttpResponse(
        content,
        status=status_code,
        content_type="application/json",
        # What the middleware this answer skips would add (CommonMiddleware, XFrameOptions).
        headers={
            "Allow": "POST, OPTIONS",
            "Content-Length": str(len(content)),
            "X-Frame-Options": settings.X_FRAME_OPTIONS,
            **(headers or {}),
        },
    )


def plain_lead_post(request) -> HttpResponse | None:
    """Answer a plain JSON POST of one lead as LeadIntakeView would; else return None, before
    anything is counted."""
    source = _plain_post_source(request)
    if source is None:
        return None
    allowed, retry_after = source_request_count(source)
    if not allowed:
        throttled = Throttled(retry_after)
        return _answer(
            {"detail": throttled.detail},
            status.HTTP_429_TOO_MANY_REQUESTS,
            {"Retry-After": str(throttled.wait)},
        )
    if _content_length(request) > SINGLE_MAX_BYTES:
        too_large = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        return _answer(_too_large_answer(SINGLE_MAX_BYTES), too_large)
    try:
        data = SafeJSONParser().parse(io.BytesIO(request.body), "application/json")
    except ParseError as error:
        return _answer(_bad_body_answer(str(error.detail)), status.HTTP_400_BAD_REQUEST)
    result = lead_accept(source=source, payload=data)
    return _answer(result.as_dict(), result.http_status)


class LeadBatchIntakeView(IntakeView):
    parser_classes = [SafeJSONParser]
    max_bytes = BATCH_MAX_BYTES

    @extend_schema(
        operation_id="leads_batch_create",
        summary="Deliver up to 1,000 leads",
        description="One result per lead, in order, with the same shapes as a single delivery "
        "and the status each would have had. One bad lead does not reject the others.",
        request=schema.BatchIn,
        responses={200: schema.BatchOut, 422: schema.Rejected, **COMMON_RESPONSES},
        tags=["leads"],
    )
    def post(self, request):
        data = self.request_data(request)
        if isinstance(data, Response):
            return data
        payloads = data.get("leads") if isinstance(data, dict) else data
        if not isinstance(payloads, list):
            return Response(
                {"status": REJECTED, "errors": {"leads": ["Must be a list of leads."]}},
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if len(payloads) > BATCH_MAX_LEADS:
            return Response(
                {
                    "status": REJECTED,
                    "errors": {"leads": [f"At most {BATCH_MAX_LEADS:,} leads per request."]},
                },
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        results = leads_accept(source=request.user.source, payloads=payloads)
        new = [result.status for result in results if not result.replay]
        return Response(
            {
                "results": [{"http_status": r.http_status, **r.as_dict()} for r in results],
                "accepted": new.count(ACCEPTED),
                "duplicates": new.count(DUPLICATE),
                "replays": sum(result.replay for result in results),
                "rejected": new.count(REJECTED),
            }
        )
