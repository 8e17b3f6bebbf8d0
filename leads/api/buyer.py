"""The business's own systems report conversions and ask for returns (API token only)."""

import datetime
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from leads.api import schema
from leads.api.authentication import (
    ApiTokenAuthentication,
    IsManagerToken,
    SourceKeyAuthentication,
)
from leads.api.views import IntakeView
from leads.feedback.returns import ReturnError, return_request
from leads.intake.payload import Problems
from leads.lifecycle import ConversionError, conversion_record
from leads.models import ConversionKind, ConversionOrigin, Lead, ReturnOrigin, ReturnReason
from leads.validators import unstorable_text_problem

MAX_BYTES = 16 * 1024
MAX_ID = 2**63 - 1


class LeadRef(serializers.Serializer):
    lead = serializers.IntegerField(
        required=False, help_text="Leadline's lead id; or give source and source_lead_id."
    )
    source = serializers.SlugField(required=False, help_text="The source's slug.")
    source_lead_id = serializers.CharField(
        required=False, max_length=100, help_text="The source's own id for the lead."
    )


class ConversionIn(LeadRef):
    kind = serializers.ChoiceField(choices=ConversionKind.choices)
    revenue = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="Sales only, as a string: at most 10 digits and 2 decimals.",
    )
    at = serializers.DateTimeField(
        required=False, help_text="When it happened, with UTC offset; now if absent."
    )


class ConversionOut(serializers.Serializer):
    id = serializers.IntegerField()
    lead = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ConversionKind.choices)
    revenue = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    occurred_at = serializers.DateTimeField()
    origin = serializers.CharField()


class ReturnIn(LeadRef):
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    note = serializers.CharField(required=False, max_length=2000)


class ReturnOut(serializers.Serializer):
    id = serializers.IntegerField()
    lead = serializers.IntegerField()
    reason = serializers.CharField()
    status = serializers.CharField()
    credit = serializers.DecimalField(max_digits=10, decimal_places=2)
    requested_at = serializers.DateTimeField()


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _rejected(problems: Mapping[str, list[str]], reasons=("invalid",)) -> Response:
    return Response(
        {"status": "rejected", "errors": dict(problems), "reasons": list(reasons)},
        status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def _text(data: Mapping, name: str, problems: Problems, *, max_length: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(name, "Must be text.")
        return ""
    if len(value) > max_length:
        problems.add(name, f"Must be at most {max_length:,} characters (got {len(value):,}).")
        return ""
    if problem := unstorable_text_problem(value):
        problems.add(name, problem)
        return ""
    return value.strip()


def _lead(data: Mapping, problems: Problems) -> Lead | None:
    """Find the lead by Leadline's id, or by its source's slug and id; unknown is a problem."""
    leads = Lead.objects.select_related("source")
    if "lead" in data:
        value = data["lead"]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
            problems.add("lead", "Must be a lead id (a whole number).")
            return None
        lead = leads.filter(pk=value).first()
        if lead is None:
            problems.add("lead", f"No lead with id {value}.")
        return lead
    slug = _text(data, "source", problems, max_length=60)
    source_lead_id = _text(data, "source_lead_id", problems, max_length=100)
    if "source" in problems or "source_lead_id" in problems:
        return None
    if not slug or not source_lead_id:
        problems.add("lead", 'Give "lead" (its id), or "source" and "source_lead_id".')
        return None
    lead = leads.filter(source__slug=slug, source_lead_id=source_lead_id).first()
    if lead is None:
        problems.add("lead", f"No lead {source_lead_id[:100]!r} from source {slug[:60]!r}.")
    return lead


def _revenue(data: Mapping, problems: Problems) -> Decimal | None:
    value = data.get("revenue")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > 40:
        problems.add("revenue", 'Must be an amount, e.g. "1200.00".')
        return None
    try:
        revenue = Decimal(str(value).strip())
    except InvalidOperation:
        problems.add("revenue", 'Must be an amount, e.g. "1200.00".')
        return None
    return revenue


def _at(data: Mapping, problems: Problems) -> datetime.datetime | None:
    value = data.get("at")
    if value is None:
        return None
    parsed = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        problems.add("at", "Must be an ISO 8601 date and time with a UTC offset.")
        return None
    if parsed.tzinfo is None:
        problems.add("at", "Must include a UTC offset, e.g. 2026-11-22T14:03:00Z.")
        return None
    return parsed


class TokenApiView(IntakeView):
    # A person's session and a source's key are recognised only to be refused (403).
    authentication_classes = [
        ApiTokenAuthentication,
        SourceKeyAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsManagerToken]
    throttle_classes = []
    max_bytes = MAX_BYTES

    def object_data(self, request):
        data = self.request_data(request)
        if isinstance(data, Response):
            return data
        if not isinstance(data, Mapping):
            return _rejected({"body": ["Must be a JSON object."]})
        return data


COMMON_RESPONSES = {
    400: OpenApiResponse(schema.Rejected, description="The body is not JSON."),
    401: OpenApiResponse(schema.Problem, description="Missing or unknown API token."),
    403: OpenApiResponse(
        schema.Problem, description="Not an API token: a person's session or a source's key."
    ),
    413: OpenApiResponse(schema.Problem, description="The body is over 16 KiB."),
    422: OpenApiResponse(schema.Rejected, description="Every problem, by field."),
}


class ConversionCreateView(TokenApiView):
    @extend_schema(
        operation_id="conversions_create",
        summary="Record a conversion",
        description="A lead was contacted, got an appointment, or bought (a sale with its "
        "revenue). Identify the lead by `lead` (Leadline's id) or by `source` and "
        "`source_lead_id`. The lead's source hears of it through its feedback.",
        request=ConversionIn,
        responses={201: ConversionOut, **COMMON_RESPONSES},
        examples=[
            OpenApiExample(
                "A sale",
                value={"lead": 81234, "kind": "sale", "revenue": "1200.00"},
                request_only=True,
            )
        ],
        tags=["feedback"],
    )
    def post(self, request):
        data = self.object_data(request)
        if isinstance(data, Response):
            return data
        problems = Problems()
        lead = _lead(data, problems)
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in ConversionKind.values:
            problems.add("kind", f"Choose one of: {', '.join(ConversionKind.values)}.")
        revenue, at = _revenue(data, problems), _at(data, problems)
        if problems:
            return _rejected(problems)
        try:
            conversion = conversion_record(
                lead=lead,
                kind=kind,
                origin=ConversionOrigin.API,
                revenue=revenue,
                occurred_at=at,
                recorded_by=request.user,
            )
        except ConversionError as error:
            return _rejected({error.field: [str(error)]})
        body = {
            "id": conversion.pk,
            "lead": lead.pk,
            "kind": conversion.kind,
            "revenue": None if conversion.revenue is None else f"{conversion.revenue:.2f}",
            "occurred_at": _utc(conversion.occurred_at),
            "origin": conversion.origin,
        }
        return Response(body, status.HTTP_201_CREATED)


class ReturnCreateView(TokenApiView):
    @extend_schema(
        operation_id="returns_create",
        summary="Ask for a return",
        description="Ask the lead's source to take it back and credit its cost, with one of "
        "the source's allowed reasons, inside its return window and monthly cap. A `422` "
        "says which rule refused it (`reasons`: reason_not_allowed, outside_window, "
        "already_returned, over_return_cap).",
        request=ReturnIn,
        responses={201: ReturnOut, **COMMON_RESPONSES},
        examples=[
            OpenApiExample(
                "A bad number",
                value={"lead": 81234, "reason": "bad_number", "note": "Disconnected."},
                request_only=True,
            )
        ],
        tags=["feedback"],
    )
    def post(self, request):
        data = self.object_data(request)
        if isinstance(data, Response):
            return data
        problems = Problems()
        lead = _lead(data, problems)
        reason = data.get("reason")
        if not isinstance(reason, str) or reason not in ReturnReason.values:
            problems.add("reason", f"Choose one of: {', '.join(ReturnReason.values)}.")
        note = _text(data, "note", problems, max_length=2000)
        if problems:
            return _rejected(problems)
        try:
            lead_return = return_request(
                lead=lead, reason=reason, note=note, origin=ReturnOrigin.API, by=request.user
            )
        except ReturnError as error:
            return _rejected({error.field: [str(error)]}, [error.code])
        body = {
            "id": lead_return.pk,
            "lead": lead.pk,
            "reason": lead_return.reason,
            "status": lead_return.status,
            "credit": f"{lead_return.credit:.2f}",
            "requested_at": _utc(lead_return.requested_at),
        }
        return Response(body, status.HTTP_201_CREATED)
