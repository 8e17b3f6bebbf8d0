"""The managers' scoring weights, and rescoring leads as an RQ job they watch."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from leads.models import Lead, ScoringFactor
from leads.scoring import (
    PRODUCT_KEY_PREFIX,
    leads_rescore_enqueue,
    product_factor_key,
    rescore_progress,
)

PRODUCT_KEY_HELP = (
    "To weigh a product, name it here: product- and the lead's product slugified (lower case, "
    "spaces as hyphens), e.g. product-solar-panels for leads whose product is "
    '"Solar panels". Its points are added to those leads\' scores. The other factors are '
    "the scoring rules' own: their keys are fixed, only their weights change."
)


class ScoringFactorAddForm(forms.ModelForm):
    key = forms.SlugField(max_length=40, help_text=PRODUCT_KEY_HELP)

    class Meta:
        model = ScoringFactor
        fields = ("label", "points", "is_active", "description")

    def clean_key(self):
        key = self.cleaned_data["key"]
        product = key.removeprefix(PRODUCT_KEY_PREFIX)
        if (
            not key.startswith(PRODUCT_KEY_PREFIX)
            or not product
            or product_factor_key(product) != key
        ):
            raise ValidationError(
                f"A new factor weighs a product: {PRODUCT_KEY_PREFIX} and the product "
                f"slugified, e.g. {product_factor_key('Solar panels')}."
            )
        if ScoringFactor.objects.filter(key=key).exists():
            raise ValidationError("A factor with this key exists already.")
        return key

    def save(self, commit=True):
        self.instance.key = self.cleaned_data["key"]
        return super().save(commit)


def rescore_start(request, *, leads):
    """Queue the rescore of these leads (None: every open lead) and show its progress."""
    lead_ids = None if leads is None else list(leads.order_by("pk").values_list("pk", flat=True))
    job_id = leads_rescore_enqueue(lead_ids=lead_ids, user=request.user)
    return redirect("admin:leads_scoringfactor_rescore_progress", job_id)


@admin.register(ScoringFactor)
class ScoringFactorAdmin(admin.ModelAdmin):
    list_display = ("label", "key", "points", "is_active", "description")
    list_display_links = ("label",)
    list_editable = ("points", "is_active")
    list_filter = ("is_active",)
    search_fields = ("key", "label", "description")
    search_help_text = "A factor's key, label or description."
    ordering = ("key",)

    def get_fields(self, request, obj=None):
        fields = ("key", "label", "points", "is_active", "description")
        return fields if obj is None else (*fields, "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("key", "updated_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:  # the key is set here only, and only to a product's
            kwargs["form"] = ScoringFactorAddForm
            kwargs["fields"] = ScoringFactorAddForm._meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # The rules' own factors stay (uncount one instead); products' may go.
        if obj is not None and not obj.key.startswith(PRODUCT_KEY_PREFIX):
            return False
        return super().has_delete_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_rescore": request.user.has_perm("leads.change_lead"),
            "product_key_help": PRODUCT_KEY_HELP,
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("rescore/", view(self.rescore_all_view), name="leads_scoringfactor_rescore"),
            path(
                "rescore/<str:job_id>/",
                view(self.rescore_progress_view),
                name="leads_scoringfactor_rescore_progress",
            ),
            *super().get_urls(),
        ]

    def rescore_all_view(self, request):
        if not request.user.has_perm("leads.change_lead"):
            raise PermissionDenied
        if request.method == "POST":
            return rescore_start(request, leads=None)
        return self._render(
            request,
            "admin/leads/scoringfactor/rescore_confirm.html",
            "Rescore all open leads",
            open_leads=Lead.objects.open().count(),
        )

    def rescore_progress_view(self, request, job_id: str):
        if not request.user.has_perm("leads.view_lead"):
            raise PermissionDenied
        progress = rescore_progress(job_id=job_id)
        if progress is None:
            raise Http404("No such rescore is kept (finished ones are kept for a day).")
        return self._render(
            request, "admin/leads/scoringfactor/rescore_progress.html", "Rescore", progress=progress
        )

    def _render(self, request, template, title, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                **context,
            },
        )
