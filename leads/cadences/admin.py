"""Cadences in the admin: managers edit the steps (drag to reorder) and see where every lead
stands in its cadence."""

from adminsortable2.admin import SortableAdminBase, SortableStackedInline
from django import forms
from django.contrib import admin
from django.contrib.admin import ShowFacets
from django.db.models import Count, OuterRef, Q, Subquery
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from crm.admin_paging import LargeTablePaginator
from leads.cadences.engine import PENDING, cadence_steps_remove
from leads.cadences.templates import template_check
from leads.models import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    EnrollmentStatus,
    LeadSource,
    StepChannel,
    Touch,
)
from leads.search import lead_search_filter
from leads.templatetags.cadence_plan import local_when

PRODUCT_MAX = 64


def _template_clean(value: str) -> str:
    try:
        template_check(value)
    except TemplateSyntaxError as error:
        raise forms.ValidationError(f"The template cannot be used: {error}") from error
    return value


class CadenceStepForm(forms.ModelForm):
    class Meta:
        model = CadenceStep
        fields = (
            "channel",
            "delay_minutes",
            "delay_from",
            "subject_template",
            "body_template",
            "only_if_not_contacted",
            "weekdays_only",
            "skip_without_consent",
        )
        widgets = {"body_template": forms.Textarea(attrs={"rows": 3})}

    def clean_subject_template(self):
        return _template_clean(self.cleaned_data["subject_template"])

    def clean_body_template(self):
        return _template_clean(self.cleaned_data["body_template"])

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel")
        if (
            channel in (StepChannel.SMS, StepChannel.EMAIL)
            and not cleaned.get("body_template", "").strip()
        ):
            self.add_error("body_template", "A text or an email needs its message.")
        if channel == StepChannel.EMAIL and not cleaned.get("subject_template", "").strip():
            self.add_error("subject_template", "An email needs its subject.")
        return cleaned


class CadenceStepInline(SortableStackedInline):
    model = CadenceStep
    form = CadenceStepForm
    extra = 0
    fields = (
        ("channel", "delay_minutes", "delay_from"),
        "subject_template",
        "body_template",
        ("only_if_not_contacted", "weekdays_only", "skip_without_consent"),
    )


class CadenceForm(forms.ModelForm):
    products = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Products whose leads follow this cadence, separated by commas; the "
        "product's cadence wins over the source's.",
    )

    class Meta:
        model = Cadence
        fields = ("name", "description", "is_active", "is_default", "products")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["products"] = ", ".join(self.instance.products or [])
        known = sorted(
            {
                product
                for products in LeadSource.objects.values_list("accepted_products", flat=True)
                for product in products or []
            }
        )
        if known:
            self.fields["products"].help_text += f" Sources accept: {', '.join(known)}."

    def clean_products(self):
        products = []
        for part in self.cleaned_data["products"].split(","):
            product = part.strip()
            if not product:
                continue
            if len(product) > PRODUCT_MAX or not product.isprintable():
                raise forms.ValidationError(
                    f"A product name is printable text of at most {PRODUCT_MAX} characters."
                )
            if product not in products:
                products.append(product)
        return products


@admin.register(Cadence)
class CadenceAdmin(SortableAdminBase, SimpleHistoryAdmin):
    form = CadenceForm
    inlines = (CadenceStepInline,)
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "description", "is_active", "is_default", "products"),
                "description": "Changes apply to leads enrolled from now on: leads following "
                "the cadence keep the touches planned for them (a step removed cancels its "
                "touches still to come).",
            },
        ),
    )
    list_display = (
        "name",
        "is_active",
        "is_default",
        "product_list",
        "step_count",
        "active_count",
        "paused_count",
        "stopped_count",
        "finished_count",
    )
    list_filter = ("is_active", "is_default")
    search_fields = ("name",)

    def save_formset(self, request, form, formset, change):
        if formset.model is not CadenceStep:
            return super().save_formset(request, form, formset, change)
        # Steps are saved here so that removing one cancels its touches still to come.
        steps = formset.save(commit=False)
        cadence_steps_remove(steps=formset.deleted_objects)
        for step in steps:
            step.save()
        formset.save_m2m()

    def get_queryset(self, request):
        counts = {
            f"{status}_count": Count("enrollments", filter=Q(enrollments__status=status))
            for status in EnrollmentStatus.values
        }
        # A subquery, not a second join: joining steps too would multiply every enrollment.
        steps = (
            CadenceStep.objects.filter(cadence=OuterRef("pk"))
            .order_by()
            .values("cadence")
            .annotate(total=Count("pk"))
            .values("total")
        )
        return super().get_queryset(request).annotate(step_total=Subquery(steps), **counts)

    @admin.display(description="products")
    def product_list(self, obj):
        return ", ".join(obj.products) or "—"

    @admin.display(description="steps", ordering="step_total")
    def step_count(self, obj):
        return obj.step_total or 0

    @admin.display(description="leads active", ordering="active_count")
    def active_count(self, obj):
        return obj.active_count

    @admin.display(description="paused", ordering="paused_count")
    def paused_count(self, obj):
        return obj.paused_count

    @admin.display(description="stopped", ordering="stopped_count")
    def stopped_count(self, obj):
        return obj.stopped_count

    @admin.display(description="finished", ordering="finished_count")
    def finished_count(self, obj):
        return obj.finished_count


def _next_touch(field: str):
    return Subquery(
        Touch.objects.filter(
            lead_id=OuterRef("lead_id"), cadence_step__isnull=False, status__in=PENDING
        )
        .order_by("due_at")
        .values(field)[:1]
    )


@admin.register(CadenceEnrollment)
class CadenceEnrollmentAdmin(admin.ModelAdmin):
    """Where every lead stands in its cadence. Read-only: reps pause and resume a lead's
    cadence on its page, and the engine moves it on."""

    list_display = (
        "lead_link",
        "cadence",
        "status",
        "next_step",
        "next_due_at",
        "stop_reason",
        "started_at",
    )
    list_filter = ("cadence", "status")
    list_select_related = ("lead", "cadence")
    search_fields = ("lead__phone", "lead__email", "lead__last_name")
    search_help_text = "The lead's phone number, email address or name."
    sortable_by = ("started_at",)
    ordering = ("-started_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                next_channel=_next_touch("cadence_step__channel"),
                next_due=_next_touch("due_at"),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(lead_search_filter(search_term, prefix="lead__")), False

    @admin.display(description="lead")
    def lead_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("lead_detail", args=[obj.lead_id]), obj.lead
        )

    @admin.display(description="next step")
    def next_step(self, obj):
        if obj.next_channel is None:
            return "—"
        return StepChannel(obj.next_channel).label

    @admin.display(description="next due")
    def next_due_at(self, obj):
        if obj.next_due is None:
            return "—"
        their_time = local_when(obj.lead, obj.next_due)
        return f"{obj.next_due:%b %-d, %H:%M} UTC" + (f" ({their_time})" if their_time else "")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
