"""The suppression list in the admin, with the bulk import of a file of opt-outs."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from compliance.admin import SuppressionAdmin
from compliance.jobs import suppressions_import_state
from compliance.models import Suppression, SuppressionScope
from compliance.suppressions import suppressions_import_upload


class SuppressionImportForm(forms.Form):
    file = forms.FileField(
        help_text="One phone number or email address per line, or a CSV whose header row "
        "names a phone and/or an email column, and optionally scope (all, call, sms, email) "
        "and reason columns."
    )
    reason = forms.CharField(
        max_length=Suppression._meta.get_field("reason").max_length,
        help_text="Why these numbers and addresses are suppressed, e.g. where the list came "
        "from. Saved on every entry, before the line's own reason.",
    )
    scope = forms.ChoiceField(
        choices=SuppressionScope.choices,
        initial=SuppressionScope.ALL,
        help_text="For lines that do not give their own scope.",
    )


@admin.register(Suppression)
class SuppressionListAdmin(SuppressionAdmin):
    """The suppression list, searchable, with add and bulk import."""

    change_list_template = "admin/compliance/suppression/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="compliance_suppression_import"),
            path(
                "import/<uuid:import_id>/",
                view(self.import_result_view),
                name="compliance_suppression_import_result",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuppressionImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            import_id = suppressions_import_upload(
                upload=form.cleaned_data["file"],
                reason=form.cleaned_data["reason"],
                scope=form.cleaned_data["scope"],
                recorded_by=request.user,
            )
            messages.success(
                request,
                f"Uploaded {form.cleaned_data['file'].name}; this page shows how its import goes.",
            )
            return redirect("admin:compliance_suppression_import_result", import_id)
        return self._render(request, "import.html", "Import suppressions", form=form)

    def import_result_view(self, request, import_id):
        if not self.has_add_permission(request):
            raise PermissionDenied
        state = suppressions_import_state(str(import_id))
        if state is None:
            raise Http404("No such import, or its result is no longer kept.")
        title = f"Import of {state['file_name'] or 'a suppression file'}"
        return self._render(request, "import_result.html", title, state=state)

    def _render(self, request, template, title, **context):
        return TemplateResponse(
            request,
            f"admin/compliance/suppression/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                **context,
            },
        )
