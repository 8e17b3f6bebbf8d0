"""The gate in the admin: the log of decisions, and the rules it applies, as a table."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from compliance.models import ContactDecision
from compliance.reasons import REASON_LABELS
from compliance.rules import FEDERAL_CITATION, FEDERAL_WINDOW, STATE_RULES, default_attempt_cap
from crm.admin_paging import LargeTablePaginator
from leads.choices import USState


class ReasonFilter(admin.SimpleListFilter):
    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return [(str(code), label) for code, label in REASON_LABELS.items()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(allowed=False, first_reason=self.value())
        return queryset


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return (("blocked", "Blocked now"), ("deferred", "Deferred to a later time"))

    def queryset(self, request, queryset):
        if self.value() == "blocked":
            return queryset.filter(allowed=False, next_allowed_at__isnull=True)
        if self.value() == "deferred":
            return queryset.filter(allowed=False, next_allowed_at__isnull=False)
        return queryset


@admin.register(ContactDecision)
class ContactDecisionAdmin(admin.ModelAdmin):
    """Every decision is evidence of what the gate allowed and why: read-only."""

    list_display = (
        "created_at",
        "lead",
        "channel",
        "stage",
        "allowed",
        "reason_text",
        "next_allowed_at",
    )
    list_filter = (OutcomeFilter, ReasonFilter, "channel", "stage", "purpose", "created_at")
    list_select_related = ("lead",)
    search_fields = ("lead__phone", "lead__email")
    search_help_text = "The lead's phone number or email address."
    paginator = LargeTablePaginator
    show_full_result_count = False
    date_hierarchy = None
    sortable_by = ("created_at",)
    change_list_template = "admin/compliance/contactdecision/change_list.html"

    @admin.display(description="why")
    def reason_text(self, decision: ContactDecision) -> str:
        return " ".join(reason["message"] for reason in decision.reasons) or "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        rules = path(
            "rules/",
            self.admin_site.admin_view(self.rules_view),
            name="compliance_contactdecision_rules",
        )
        return [rules, *super().get_urls()]

    def rules_view(self, request):
        """Show the calling-hours, holiday and cap rules the gate applies, with their laws."""
        rows = [
            {"state": USState(code).label, "rule": rule}
            for code, rule in sorted(STATE_RULES.items(), key=lambda item: item[0])
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Contact rules",
            "opts": self.model._meta,
            "federal_window": FEDERAL_WINDOW,
            "federal_citation": FEDERAL_CITATION,
            "rows": rows,
            "default_cap": default_attempt_cap(),
        }
        return TemplateResponse(request, "admin/compliance/contactdecision/rules.html", context)
