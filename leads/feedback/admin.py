"""The admin of returns, the feedback outbox and API tokens: every change goes through the
same functions the API and the lead page use."""

import datetime
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.html import format_html

from crm.admin_records import MadeThroughFunctionAdmin
from leads.feedback.returns import (
    ReturnError,
    month_bounds,
    return_accept,
    return_mark_sent,
    return_reject,
    return_request,
)
from leads.feedback.tokens import api_token_revoke
from leads.feedback.webhooks import feedback_event_resend
from leads.models import (
    ApiToken,
    FeedbackDelivery,
    FeedbackEvent,
    LeadReturn,
    ReturnOrigin,
    ReturnStatus,
)

MONTHS_LISTED = 12


def _month_start(months_back: int, now: datetime.datetime) -> datetime.datetime:
    start, _ = month_bounds(now)
    for _ in range(months_back):
        start, _ = month_bounds(start - datetime.timedelta(days=1))
    return start


class MonthFilter(admin.SimpleListFilter):
    """The calendar month (UTC) a return was asked in: the cap's and the credits' month."""

    title = "month requested (UTC)"
    parameter_name = "month"

    def lookups(self, request, model_admin):
        now = timezone.now()
        starts = [_month_start(back, now) for back in range(MONTHS_LISTED)]
        return [(f"{start:%Y-%m}", f"{start:%B %Y}") for start in starts]

    def bounds(self):
        try:
            start = datetime.datetime.strptime(self.value(), "%Y-%m").replace(tzinfo=datetime.UTC)
        except (TypeError, ValueError):
            return None
        return month_bounds(start)

    def queryset(self, request, queryset):
        bounds = self.bounds()
        if bounds is None:
            return queryset
        return queryset.filter(requested_at__gte=bounds[0], requested_at__lt=bounds[1])


class LeadReturnAddForm(forms.ModelForm):
    class Meta:
        model = LeadReturn
        fields = ("lead", "reason", "note")

    requested_by = None  # set per request by LeadReturnAdmin.get_form

    def clean(self):
        data = super().clean()
        if self.errors or "lead" not in data:
            return data
        try:
            # Inside the admin's transaction: a later error rolls it back with the form.
            self.instance = return_request(
                lead=data["lead"],
                reason=data["reason"],
                note=data.get("note", ""),
                origin=ReturnOrigin.ADMIN,
                by=self.requested_by,
            )
        except ReturnError as error:
            field = error.field if error.field in self.fields else None
            raise ValidationError({field: str(error)} if field else str(error)) from error
        return data


@admin.register(LeadReturn)
class LeadReturnAdmin(MadeThroughFunctionAdmin, admin.ModelAdmin):
    list_display = (
        "requested_at",
        "lead",
        "source",
        "reason",
        "status",
        "credit",
        "origin",
        "requested_by",
        "decided_at",
    )
    list_filter = ("status", "source", MonthFilter, "reason", "origin")
    list_select_related = ("lead", "source", "requested_by")
    search_fields = ("=lead__id", "lead__source_lead_id")
    raw_id_fields = ("lead",)
    actions = ("mark_sent", "accept", "reject")
    change_list_template = "admin/leads/leadreturn/change_list.html"
    add_form = LeadReturnAddForm
    add_form_user = "requested_by"
    readonly_fields = (
        "lead",
        "source",
        "reason",
        "note",
        "status",
        "credit",
        "origin",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    )

    def has_change_permission(self, request, obj=None):
        # Returns change by the actions below (accepted, rejected, sent), never by editing.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, function, done: str):
        changed, refused = 0, []
        for lead_return in queryset.select_related("lead__source"):
            try:
                with transaction.atomic():
                    function(lead_return=lead_return, by=request.user)
            except ReturnError as error:
                refused.append(f"#{lead_return.pk}: {error}")
            else:
                changed += 1
        if changed:
            messages.success(request, f"{done} {changed} return(s).")
        for problem in refused:
            messages.warning(request, problem)

    @admin.action(description="Mark sent to the source", permissions=["change"])
    def mark_sent(self, request, queryset):
        self._each(request, queryset, return_mark_sent, "Marked sent")

    @admin.action(description="Accept: credit these leads", permissions=["change"])
    def accept(self, request, queryset):
        self._each(request, queryset, return_accept, "Accepted")

    @admin.action(description="Reject", permissions=["change"])
    def reject(self, request, queryset):
        self._each(request, queryset, return_reject, "Rejected")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if not hasattr(response, "context_data") or "cl" not in response.context_data:
            return response
        month = request.GET.get(MonthFilter.parameter_name) or f"{timezone.now():%Y-%m}"
        start = datetime.datetime.strptime(month, "%Y-%m").replace(tzinfo=datetime.UTC)
        start, end = month_bounds(start)
        response.context_data["credit_month"] = start
        response.context_data["credit_totals"] = credit_totals(since=start, until=end)
        return response


def credit_totals(*, since: datetime.datetime, until: datetime.datetime) -> list[dict]:
    """Per source, the credits of the returns asked in [since, until): accepted, and still
    waiting for the source's answer."""
    return list(
        LeadReturn.objects.filter(requested_at__gte=since, requested_at__lt=until)
        .values("source__name")
        .annotate(
            accepted=Sum("credit", filter=Q(status=ReturnStatus.ACCEPTED), default=0),
            waiting=Sum(
                "credit",
                filter=Q(status__in=(ReturnStatus.REQUESTED, ReturnStatus.SENT)),
                default=0,
            ),
            returns=Count("id", filter=~Q(status=ReturnStatus.REJECTED)),
        )
        .order_by("source__name")
    )


class LeadReturnInline(admin.TabularInline):
    model = LeadReturn
    fields = ("requested_at", "reason", "status", "credit", "origin", "requested_by", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by")


class FeedbackDeliveryInline(admin.TabularInline):
    model = FeedbackDelivery
    fields = ("attempted_at", "status_code", "error", "duration_ms", "manual")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "delivery attempts"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FeedbackEvent)
class FeedbackEventAdmin(admin.ModelAdmin):
    """The outbox: what each source has been told, or will be, and every attempt."""

    list_display = (
        "id",
        "type",
        "lead",
        "source",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "occurred_at",
    )
    list_filter = ("status", "type", "source")
    list_select_related = ("lead", "source")
    search_fields = ("=id", "=lead__id", "lead__source_lead_id")
    actions = ("resend",)
    inlines = (FeedbackDeliveryInline,)
    fields = (
        "type",
        "lead",
        "source",
        "occurred_at",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "body",
    )
    readonly_fields = fields

    @admin.display(description="body sent")
    def body(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-send now (a new run of retries)", permissions=["change"])
    def resend(self, request, queryset):
        sent, skipped = 0, []
        for event in queryset.select_related("source"):
            try:
                feedback_event_resend(event=event, by=request.user)
            except ValueError as error:
                skipped.append(f"#{event.pk}: {error}")
            else:
                sent += 1
        if sent:
            messages.success(request, f"{sent} event(s) will be sent again at the next tick.")
        for problem in skipped:
            messages.warning(request, problem)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by `manage.py create_api_token` and shown once there; here they are
    listed (by their first characters) and revoked."""

    list_display = ("key_hint", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    fields = ("key_hint", "name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke: stop these tokens working at once", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)
        messages.success(request, f"Revoked {len(queryset)} token(s).")
