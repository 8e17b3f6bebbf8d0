"""Do Not Call lists in the admin: the imported copies, their age, and the import page."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from compliance.dnc import dnc_list_problems, dnc_list_upload, national_registry_is_fresh
from compliance.gate import REGISTRY_MAX_AGE
from compliance.models import DncList, DncListKind, DncListStatus
from leads.choices import USState


class DncImportForm(forms.Form):
    file = forms.FileField(
        help_text="One number per line, the registry's area code,number lines, or a CSV "
        "whose first phone column is the number."
    )
    kind = forms.ChoiceField(choices=DncListKind.choices)
    state = forms.ChoiceField(
        choices=[("", "— national list —"), *USState.choices],
        required=False,
        help_text="For a state list.",
    )
    list_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The date of this copy, as the list's publisher gives it.",
    )

    def clean(self):
        cleaned = super().clean()
        if {"kind", "list_date"} <= cleaned.keys():
            problems = dnc_list_problems(
                kind=cleaned["kind"], state=cleaned.get("state", ""), list_date=cleaned["list_date"]
            )
            if problems:
                raise ValidationError(problems)
        return cleaned


@admin.register(DncList)
class DncListAdmin(admin.ModelAdmin):
    """Imported copies are the record of what calls were checked against: read-only, kept."""

    list_display = (
        "__str__",
        "kind",
        "state",
        "list_date",
        "status",
        "number_count",
        "rejected_count",
        "created_at",
        "finished_at",
        "age",
    )
    list_filter = ("kind", "state", "status")
    list_select_related = ("imported_by",)
    fields = (
        "kind",
        "state",
        "list_date",
        "age",
        "status",
        "number_count",
        "rejected_count",
        "error",
        "file_name",
        "imported_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    change_list_template = "admin/compliance/dnclist/change_list.html"
    change_form_template = "admin/compliance/dnclist/change_form.html"

    @admin.display(description="age")
    def age(self, obj: DncList) -> str:
        days = (timezone.now().date() - obj.list_date).days
        text = f"{days} day{'' if days == 1 else 's'}"
        stale = days > REGISTRY_MAX_AGE.days
        if obj.kind == DncListKind.NATIONAL and obj.status == DncListStatus.READY and stale:
            return format_html(
                '<strong style="color: var(--error-fg)">{} — older than {} days: import a '
                "newer copy before calling numbers without consent</strong>",
                text,
                REGISTRY_MAX_AGE.days,
            )
        return text

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="compliance_dnclist_import"), *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:compliance_dnclist_import")

    def changelist_view(self, request, extra_context=None):
        if not national_registry_is_fresh(at=timezone.now()):
            messages.warning(
                request,
                f"No National Do Not Call Registry copy of the last {REGISTRY_MAX_AGE.days} "
                "days is in use: numbers without consent cannot be called until one is "
                "imported.",
            )
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DncImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            dnc_list = dnc_list_upload(
                kind=form.cleaned_data["kind"],
                state=form.cleaned_data["state"],
                list_date=form.cleaned_data["list_date"],
                upload=form.cleaned_data["file"],
                imported_by=request.user,
            )
            messages.success(
                request, f"{dnc_list} is queued for import; this page shows its progress."
            )
            return redirect("admin:compliance_dnclist_change", dnc_list.pk)
        return TemplateResponse(
            request,
            "admin/compliance/dnclist/import.html",
            {
                **self.admin_site.each_context(request),
                "title": "Import a Do Not Call list",
                "form": form,
                "opts": self.model._meta,
            },
        )
