"""The managers' CSV import: upload, map columns to lead fields, watch it run."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from leads.intake.csv_import import (
    LEAD_FIELDS,
    REQUIRED_FIELDS,
    ImportRefused,
    import_create,
    import_start,
    mapping_suggest,
)
from leads.models import ImportRun, ImportStatus, LeadSource


class ImportUploadForm(forms.Form):
    source = forms.ModelChoiceField(queryset=LeadSource.objects.all())
    file = forms.FileField(help_text="A CSV file with a header row, UTF-8.")


class ImportMappingForm(forms.Form):
    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— not in this file —"), *((column, column) for column in columns)]
        for field in LEAD_FIELDS:
            self.fields[field] = forms.ChoiceField(
                label=field, choices=choices, required=field in REQUIRED_FIELDS
            )


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "source",
        "status",
        "progress",
        "accepted",
        "duplicates",
        "replays",
        "rejected",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "source")
    list_select_related = ("source", "created_by")
    change_form_template = "admin/leads/importrun/change_form.html"
    fields = (
        "source",
        "original_name",
        "status",
        "progress",
        "rows_done",
        "accepted",
        "duplicates",
        "replays",
        "rejected",
        "error_file_link",
        "message",
        "column_mapping",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.percent_done}%"

    @admin.display(description="rejected rows")
    def error_file_link(self, obj):
        if not obj.error_file:
            return "—"
        url = reverse("admin:leads_importrun_errors", args=[obj.pk])
        return format_html(
            '<a href="{}">Download the {} rejected rows (CSV)</a>', url, obj.rejected
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:run_id>/map/", view(self.mapping_view), name="leads_importrun_map"),
            path("<int:run_id>/errors/", view(self.errors_view), name="leads_importrun_errors"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = import_create(
                    source=form.cleaned_data["source"],
                    upload=form.cleaned_data["file"],
                    user=request.user,
                )
            except ImportRefused as error:
                form.add_error("file", str(error))
            else:
                return redirect("admin:leads_importrun_map", run.pk)
        return self._render(
            request, "admin/leads/importrun/upload.html", "Import leads from CSV", form
        )

    def mapping_view(self, request, run_id: int):
        if not self.has_add_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ImportRun.objects.select_related("source"), pk=run_id)
        if run.status != ImportStatus.MAPPING:
            return redirect("admin:leads_importrun_change", run.pk)
        initial = mapping_suggest(columns=run.columns, remembered=run.source.csv_column_mapping)
        form = ImportMappingForm(request.POST or None, columns=run.columns, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                import_start(run=run, mapping=form.cleaned_data)
            except ImportRefused as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"{run} is queued; this page shows its progress.")
                return redirect("admin:leads_importrun_change", run.pk)
        title = f"Map the columns of {run.original_name} ({run.source})"
        return self._render(request, "admin/leads/importrun/mapping.html", title, form, run=run)

    def errors_view(self, request, run_id: int):
        from django.http import FileResponse, Http404

        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(ImportRun, pk=run_id)
        if not run.error_file:
            raise Http404("This import rejected no rows.")
        return FileResponse(
            run.error_file.open("rb"), as_attachment=True, filename=f"import-{run.pk}-errors.csv"
        )

    def _render(self, request, template, title, form, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "opts": self.model._meta,
                **context,
            },
        )
