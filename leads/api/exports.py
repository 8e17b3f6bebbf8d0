"""The sources' feedback exports: what became of their leads, in CSV or JSON, by API key."""

import datetime

from django.conf import settings
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.authentication import SourceClient, SourceKeyAuthentication
from leads.api.schema import Problem
from leads.api.throttling import SourceRateThrottle
from leads.api.views import JSONOnly
from leads.feedback.exports import (
    CONTENT_TYPES,
    FORMATS,
    feedback_chunks,
    feedback_file_name,
    feedback_file_request,
    fits_in_one_answer,
)
from leads.models import FeedbackFile, FeedbackFileStatus

UTC = datetime.UTC
MAX_PARAMETER_LENGTH = 64


class IsSource(permissions.BasePermission):
    """A source's own key: a paused source still reads what became of its leads."""

    def has_permission(self, request, view):
        if not isinstance(request.user, SourceClient):
            raise exceptions.NotAuthenticated("Send your API key as Authorization: Bearer <key>.")
        return True


class Invalid(serializers.Serializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class FileOut(serializers.Serializer):
    id = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    format = serializers.ChoiceField(choices=FORMATS)
    daily = serializers.BooleanField(help_text="The clock's file of one UTC day.")
    status = serializers.ChoiceField(choices=FeedbackFileStatus.values)
    rows = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="This file's status.")
    download_url = serializers.CharField(allow_null=True, help_text="Once ready.")


class Preparing(serializers.Serializer):
    file = serializers.CharField(help_text="Where the file's status is; poll it.")
    status = serializers.ChoiceField(choices=["preparing"])
    id = serializers.IntegerField()


class FileList(serializers.Serializer):
    files = FileOut(many=True)


COMMON = {
    401: OpenApiResponse(Problem, description="Missing or unknown API key."),
    429: OpenApiResponse(Problem, description="Too many requests; see Retry-After."),
}


def _instant(name: str, value: str | None, errors: dict) -> datetime.datetime | None:
    """Read an ISO 8601 instant (a date alone is its midnight; no offset means UTC)."""
    if value is None or value == "":
        return None
    text = value.strip()
    moment = None
    if len(text) <= MAX_PARAMETER_LENGTH and text.isprintable():
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = datetime.datetime.combine(day, datetime.time.min)
        except ValueError:
            moment = None
    if moment is None:
        errors[name] = ["Give an ISO 8601 date or time, e.g. 2026-11-01T00:00:00Z."]
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _file_out(request, feedback_file: FeedbackFile) -> dict:
    url = request.build_absolute_uri(reverse("api_feedback_file", args=[feedback_file.pk]))
    ready = feedback_file.status == FeedbackFileStatus.READY
    return {
        "id": feedback_file.pk,
        "since": feedback_file.since,
        "until": feedback_file.until,
        "format": feedback_file.format,
        "daily": feedback_file.is_daily,
        "status": feedback_file.status,
        "rows": feedback_file.rows,
        "created_at": feedback_file.created_at,
        "finished_at": feedback_file.finished_at,
        "url": url,
        "download_url": request.build_absolute_uri(
            reverse("api_feedback_file_download", args=[feedback_file.pk])
        )
        if ready
        else None,
    }


class SourceAPIView(APIView):
    # Answers are JSON (or the file asked for); ?format= names the export's, not DRF's.
    content_negotiation_class = JSONOnly
    authentication_classes = [SourceKeyAuthentication]
    permission_classes = [IsSource]
    throttle_classes = [SourceRateThrottle]


class FeedbackExportView(SourceAPIView):
    @extend_schema(
        operation_id="feedback_export",
        summary="Download what became of your leads",
        description="One row per lead of yours that had a feedback event (contacted, "
        "appointment, sold, returned, return decided) in [since, until). Streamed; a range "
        "too large to stream answers 202 with the address of a file being prepared.",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter(
                "until", OpenApiTypes.DATETIME, description="Not included; default now."
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), default="csv"),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rows."),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="The rows, as an array of objects."
            ),
            202: OpenApiResponse(Preparing, description="Too many rows: a file is prepared."),
            422: OpenApiResponse(Invalid, description="A parameter is wrong; named."),
            **COMMON,
        },
        tags=["feedback"],
    )
    def get(self, request):
        params = request.query_params
        errors: dict[str, list[str]] = {}
        since = _instant("since", params.get("since"), errors)
        until = _instant("until", params.get("until"), errors)
        export_format = params.get("format", "csv")
        if export_format not in FORMATS:
            errors["format"] = ["Choose csv or json."]
        if since is None and "since" not in errors:
            errors["since"] = ["Required: the start of the range, e.g. 2026-11-01T00:00:00Z."]
        until = until or datetime.datetime.now(UTC)
        if not errors and until <= since:
            errors["until"] = ["Must be after since."]
        elif not errors and until - since > datetime.timedelta(
            days=settings.FEEDBACK_MAX_RANGE_DAYS
        ):
            errors["until"] = [f"At most {settings.FEEDBACK_MAX_RANGE_DAYS} days after since."]
        if errors:
            return Response({"errors": errors}, status.HTTP_422_UNPROCESSABLE_ENTITY)
        source = request.user.source
        if not fits_in_one_answer(source=source, since=since, until=until):
            feedback_file = feedback_file_request(
                source=source, since=since, until=until, format=export_format
            )
            url = request.build_absolute_uri(reverse("api_feedback_file", args=[feedback_file.pk]))
            return Response(
                {"file": url, "status": "preparing", "id": feedback_file.pk},
                status.HTTP_202_ACCEPTED,
                headers={"Location": url},
            )
        response = StreamingHttpResponse(
            (
                chunk.encode()
                for chunk in feedback_chunks(
                    source=source, since=since, until=until, format=export_format
                )
            ),
            content_type=CONTENT_TYPES[export_format],
        )
        name = f"feedback-{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}.{export_format}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class FeedbackFileListView(SourceAPIView):
    @extend_schema(
        operation_id="feedback_files_list",
        summary="List your prepared feedback files",
        description="The clock's daily file (yesterday, UTC) and every large export you "
        "asked for, newest first (the last 200).",
        responses={200: FileList, **COMMON},
        tags=["feedback"],
    )
    def get(self, request):
        files = FeedbackFile.objects.filter(source=request.user.source)[:200]
        return Response({"files": [_file_out(request, f) for f in files]})


FILE_ID = OpenApiParameter("file_id", OpenApiTypes.INT, OpenApiParameter.PATH)


def _own_file(request, file_id: str) -> FeedbackFile:
    # The route takes any text, so a malformed id is this JSON 404 rather than an HTML page.
    feedback_file = None
    if file_id.isascii() and file_id.isdigit() and len(file_id) < 18:
        feedback_file = FeedbackFile.objects.filter(
            pk=int(file_id), source=request.user.source
        ).first()
    if feedback_file is None:
        raise exceptions.NotFound("No such file of yours.")
    return feedback_file


class FeedbackFileView(SourceAPIView):
    @extend_schema(
        operation_id="feedback_file",
        summary="One prepared feedback file's status",
        parameters=[FILE_ID],
        responses={
            200: FileOut,
            404: OpenApiResponse(Problem, description="Not a file of yours."),
            **COMMON,
        },
        tags=["feedback"],
    )
    def get(self, request, file_id: str):
        return Response(_file_out(request, _own_file(request, file_id)))


class FeedbackFileDownloadView(SourceAPIView):
    @extend_schema(
        operation_id="feedback_file_download",
        summary="Download a prepared feedback file",
        parameters=[FILE_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The file."),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
            404: OpenApiResponse(Problem, description="Not a file of yours."),
            409: OpenApiResponse(Problem, description="Not ready yet (or it failed)."),
            **COMMON,
        },
        tags=["feedback"],
    )
    def get(self, request, file_id: str):
        feedback_file = _own_file(request, file_id)
        if feedback_file.status != FeedbackFileStatus.READY:
            return Response(
                {"detail": f"The file is {feedback_file.get_status_display().lower()}."},
                status.HTTP_409_CONFLICT,
            )
        return FileResponse(
            feedback_file.file.open("rb"),
            as_attachment=True,
            filename=feedback_file_name(feedback_file),
            content_type=CONTENT_TYPES[feedback_file.format],
        )
