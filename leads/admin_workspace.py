"""The admin of the workspace's ledgers: conversions (recorded through
`leads.lifecycle.conversion_record`, as reps' outcomes and the API record them) and notes."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from crm.admin_records import MadeThroughFunctionAdmin
from leads.lifecycle import ConversionError, conversion_record
from leads.models import Conversion, ConversionOrigin, LeadNote

# conversion_record names the input at fault; the form's fields are named after the model.
FORM_FIELDS = {"at": "occurred_at", "kind": "kind", "revenue": "revenue"}


class ConversionAddForm(forms.ModelForm):
    class Meta:
        model = Conversion
        fields = ("lead", "kind", "revenue", "occurred_at")

    recorded_by = None  # the manager adding it; set by ConversionAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["occurred_at"].required = False
        self.fields["occurred_at"].help_text = "Empty: now."

    def clean(self):
        data = super().clean()
        if self.errors or "lead" not in data:
            return data
        try:
            # Inside the admin's transaction: a later error rolls it back with the form.
            self.instance = conversion_record(
                lead=data["lead"],
                kind=data["kind"],
                revenue=data.get("revenue"),
                occurred_at=data.get("occurred_at"),
                origin=ConversionOrigin.ADMIN,
                recorded_by=self.recorded_by,
            )
        except ConversionError as error:
            raise ValidationError({FORM_FIELDS.get(error.field): str(error)}) from error
        return data


@admin.register(Conversion)
class ConversionAdmin(MadeThroughFunctionAdmin, admin.ModelAdmin):
    """The conversion ledger: kept, never changed or deleted (the feedback to sources reads
    it); a manager adds what the reps' outcomes and the API did not."""

    list_display = ("occurred_at", "lead", "kind", "revenue", "origin", "recorded_by")
    list_filter = ("kind", "origin", ("occurred_at", admin.DateFieldListFilter))
    list_select_related = ("lead", "recorded_by")
    search_fields = ("=lead__id", "lead__source_lead_id")
    raw_id_fields = ("lead",)
    date_hierarchy = "occurred_at"
    add_form = ConversionAddForm
    add_form_user = "recorded_by"
    readonly_fields = ("lead", "kind", "revenue", "occurred_at", "origin", "recorded_by", "attempt")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ConversionInline(admin.TabularInline):
    model = Conversion
    fk_name = "lead"
    fields = ("occurred_at", "kind", "revenue", "origin", "recorded_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")


class LeadNoteInline(admin.TabularInline):
    model = LeadNote
    fields = ("created_at", "author", "body")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "notes"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")
