"""Consent records in the admin; the other compliance admins register from their modules."""

from django.contrib import admin
from django.contrib.admin import ShowFacets
from django.db import models
from django.db.models import Q
from simple_history.admin import SimpleHistoryAdmin

from compliance import admin_dnc, admin_gate, admin_suppressions  # noqa: F401 (they register)
from compliance.models import CONSENT_EVIDENCE_FIELDS, ConsentRecord
from crm.admin_paging import LargeTablePaginator
from leads.search import lead_search_filter

# Read-only once captured: the evidence, and whose and how it came.
CONSENT_READONLY_FIELDS = ("lead", *CONSENT_EVIDENCE_FIELDS, "capture_method")


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return (("yes", "Revoked"), ("no", "In force"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(ConsentRecord)
class ConsentRecordAdmin(SimpleHistoryAdmin):
    """Consent is evidence: captured fields are read-only once saved, and nothing is deleted."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "__str__",
        "lead",
        "seller_list",
        "captured_at",
        "capture_method",
        "revoked_at",
    )
    list_filter = ("capture_method", RevokedFilter, "captured_at")
    list_select_related = ("lead",)
    search_fields = ("lead__phone", "lead__email", "lead__last_name", "jornaya_leadid")
    search_help_text = "The lead's phone number, email address or name, or a Jornaya LeadiD."
    sortable_by = ("captured_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ("lead",)
    history_list_display = ("revoked_at", "revocation_means")

    @admin.display(description="sellers shown")
    def seller_list(self, obj):
        return ", ".join(obj.seller_names)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("disclosure_sha256",)
        return (*CONSENT_READONLY_FIELDS, "created_at")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_lead = lead_search_filter(term, prefix="lead__")
        return queryset.filter(by_lead | Q(jornaya_leadid=term)), False

    def has_delete_permission(self, request, obj=None):
        return False
