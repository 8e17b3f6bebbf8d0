"""The lead sources' API: deliver leads one at a time or in batches."""

from django.http import QueryDict
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api import schema
from leads.api.authentication import IsActiveSource, SourceKeyAuthentication
from leads.api.parsers import SafeJSONParser
from leads.api.throttling import SourceRateThrottle
from leads.intake.payload import CONSENT_LIST_FIELDS
from leads.intake.service import (
    ACCEPTED,
    DUPLICATE,
    INVALID,
    REJECTED,
    lead_accept,
    leads_accept,
)

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
    503: OpenApiResponse(
        schema.Problem,
        description="Only when the buyer chose to pause intake while its queue is away: "
        "nothing was stored; send again after Retry-After.",
    ),
}


def _bad_body(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"status": REJECTED, "errors": {"body": [message]}, "reasons": [INVALID]}, code)


def _flat_form(data: QueryDict) -> dict:
    return {key: data.getlist(key) if key in LIST_FORM_FIELDS else data.get(key) for key in data}


class JSONOnly(BaseContentNegotiation):
    """Answer in JSON whatever the client accepts: intake speaks nothing else, and DRF's
    negotiation (parsing the query string and the Accept header) was an eighth of a lead."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class IntakeView(APIView):
    content_negotiation_class = JSONOnly
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
                {"detail": f"The body is larger than {self.max_bytes:,} bytes."},
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
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
        payloads = data.get("leads") if isinstance(data, dict) else None
        if not isinstance(payloads, list):
            return Response(
                {
                    "status": REJECTED,
                    "errors": {"leads": ['Must be a list of leads: send {"leads": [...]}.']},
                    "reasons": [INVALID],
                },
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if len(payloads) > BATCH_MAX_LEADS:
            return Response(
                {
                    "status": REJECTED,
                    "errors": {"leads": [f"At most {BATCH_MAX_LEADS:,} leads per request."]},
                    "reasons": [INVALID],
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
