"""The suppression list in the admin, with the bulk import of a file of opt-outs."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from simple_history.admin import SimpleHistoryAdmin

from compliance.jobs import suppressions_import_state
from compliance.models import Suppression, SuppressionOrigin, SuppressionScope
from compliance.suppressions import suppressions_import_upload
from crm.admin_paging import LargeTablePaginator
from leads.search import contact_search_filter


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
class SuppressionAdmin(SimpleHistoryAdmin):
    """The opt-out and do-not-contact list, searchable, with add and bulk import.

    Entries are kept for good.
    """

    change_list_template = "admin/compliance/suppression/change_list.html"

    list_display = (
        "__str__",
        "phone",
        "email",
        "channel_scope",
        "origin",
        "received_at",
        "recorded_by",
    )
    list_filter = ("origin", "channel_scope", "received_at")
    list_select_related = ("recorded_by",)
    search_fields = ("phone", "email")
    search_help_text = "A phone number or an email address."
    sortable_by = ("received_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ("lead",)
    readonly_fields = ("recorded_by", "created_at")

    def get_changeform_initial_data(self, request):
        return {"origin": SuppressionOrigin.MANAGER, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "phone", "email", "origin", "received_at", "lead")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact_search_filter(search_term)), False

    def has_delete_permission(self, request, obj=None):
        return False

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
