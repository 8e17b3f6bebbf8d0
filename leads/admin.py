from django.contrib import admin, messages
from django.contrib.admin import ShowFacets
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import models
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from compliance.models import ConsentRecord
from crm.admin_paging import LargeTablePaginator
from crm.roles import MANAGER, grantable_groups, user_is_manageable_by
from leads import admin_imports, admin_scoring  # noqa: F401 (registers their admins)
from leads.admin_forms import LeadAddForm, LeadReassignForm
from leads.admin_workspace import ConversionInline, LeadNoteInline
from leads.cadences import admin as cadence_admin  # noqa: F401 (registers its admins)
from leads.cadences.outbound import touch_resend
from leads.fastlane import leads_fast_lane_retry
from leads.feedback import admin_dashboard  # noqa: F401 (serves the dashboard)
from leads.feedback.admin import LeadReturnInline
from leads.feedback.webhooks import source_signing_secret_rotate
from leads.intake.service import leads_store
from leads.models import (
    AssignmentReason,
    ContactAttempt,
    Lead,
    LeadAssignment,
    LeadSource,
    RepProfile,
    Touch,
)
from leads.scoring import score_breakdown
from leads.search import lead_search_filter
from leads.sources import source_key_rotate
from leads.templatetags.lead_time import duration_text
from leads.workspace.routing import lead_assign, leads_reassign, rep_pause

User = get_user_model()


def _show_new_keys(request, keys_by_source: list[tuple[LeadSource, str]]):
    """Render the new API keys once; they are never stored or shown again."""
    return TemplateResponse(
        request,
        "admin/leads/leadsource/api_keys.html",
        {
            **admin.site.each_context(request),
            "title": "New API keys",
            "keys_by_source": keys_by_source,
            "opts": LeadSource._meta,
        },
    )


@admin.register(LeadSource)
class LeadSourceAdmin(SimpleHistoryAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "name",
        "is_active",
        "price_per_lead",
        "exclusivity",
        "daily_cap",
        "return_window_days",
        "api_key_hint",
        "api_key_rotated_at",
    )
    list_filter = ("is_active", "exclusivity")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("api_key_hint", "api_key_rotated_at", "created_at", "updated_at")
    actions = ("rotate_api_keys", "rotate_signing_secrets", "pause_sources", "resume_sources")
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_active")}),
        (
            "Pricing",
            {
                "fields": (
                    "pricing",
                    "price_per_lead",
                    "price_floor",
                    "price_ceiling",
                    "exclusivity",
                )
            },
        ),
        (
            "Returns",
            {
                "fields": (
                    "return_window_days",
                    "allowed_return_reasons",
                    "return_cap_percent",
                    "auto_return_duplicates",
                    "auto_return_invalid",
                )
            },
        ),
        ("What this source may send", {"fields": ("accepted_states", "accepted_products")}),
        ("Caps", {"fields": ("daily_cap",)}),
        ("Follow-up", {"fields": ("cadence",)}),
        (
            "Feedback",
            {
                "fields": ("feedback_webhook_url", "shares_revenue"),
                "description": "Webhooks are signed with the source's signing secret, shown "
                "once: use the 'Rotate webhook signing secret' action on the list for a new one.",
            },
        ),
        (
            "API key",
            {
                "fields": ("api_key_hint", "api_key_rotated_at"),
                "description": "Only a hash of the key is stored. Use the 'Rotate API key' "
                "action on the list to issue a new one.",
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.new_api_key = obj.set_new_api_key()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        response = _show_new_keys(request, [(obj, obj.new_api_key)])
        # A new source's webhook secret is shown this once too, beside its key.
        response.context_data["show_signing_secrets"] = bool(obj.feedback_webhook_url)
        return response

    @admin.action(description="Rotate API key (the old key stops working at once)")
    def rotate_api_keys(self, request, queryset):
        return _show_new_keys(request, [(s, source_key_rotate(source=s)) for s in queryset])

    @admin.action(description="Rotate webhook signing secret (shown once)")
    def rotate_signing_secrets(self, request, queryset):
        return TemplateResponse(
            request,
            "admin/leads/leadsource/signing_secrets.html",
            {
                **admin.site.each_context(request),
                "title": "New webhook signing secrets",
                "secrets_by_source": [
                    (source, source_signing_secret_rotate(source=source)) for source in queryset
                ],
                "opts": LeadSource._meta,
            },
        )

    @admin.action(description="Pause: refuse new leads from these sources")
    def pause_sources(self, request, queryset):
        for source in queryset:
            source.is_active = False
            source.save(update_fields=["is_active", "updated_at"])
        messages.success(request, f"Paused {len(queryset)} source(s).")

    @admin.action(description="Resume: accept leads from these sources")
    def resume_sources(self, request, queryset):
        for source in queryset:
            source.is_active = True
            source.save(update_fields=["is_active", "updated_at"])
        messages.success(request, f"Resumed {len(queryset)} source(s).")


class ConsentRecordInline(admin.TabularInline):
    model = ConsentRecord
    fields = ("channel_list", "seller_list", "captured_at", "capture_method", "revoked_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="channels")
    def channel_list(self, obj):
        return ", ".join(obj.channels)

    @admin.display(description="sellers shown")
    def seller_list(self, obj):
        return ", ".join(obj.seller_names)


class ContactAttemptInline(admin.TabularInline):
    model = ContactAttempt
    fields = ("started_at", "channel", "direction", "rep", "duration_seconds", "disposition")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rep")


class LeadAssignmentInline(admin.TabularInline):
    model = LeadAssignment
    fields = ("created_at", "from_rep", "to_rep", "reason", "note", "assigned_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "assignments"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_rep", "to_rep", "assigned_by")


class ReceivedAtFilter(admin.DateFieldListFilter):
    title = "received"


class FastLaneFilter(admin.SimpleListFilter):
    title = "fast lane"
    parameter_name = "fast_lane"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting"), ("failed", "Failed: needs a person")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.unprocessed()
        if self.value() == "failed":
            return queryset.fast_lane_failed()
        return queryset


class SpeedToLeadFilter(admin.SimpleListFilter):
    title = "speed-to-lead"
    parameter_name = "speed_to_lead"

    def lookups(self, request, model_admin):
        return [("late", "Late")]

    def queryset(self, request, queryset):
        if self.value() == "late":
            return queryset.filter(Q(sla_stage__gt=0) | Q(sla_due_at__lt=timezone.now()))
        return queryset


@admin.register(Lead)
class LeadAdmin(SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "source",
        "source_lead_id",
        "state",
        "product",
        "status",
        "score",
        "owner",
        "received_at",
        "to_first_attempt",
        "to_first_contact",
    )
    list_filter = (
        "status",
        FastLaneFilter,
        SpeedToLeadFilter,
        "source",
        "state",
        ("owner", admin.RelatedFieldListFilter),
        ("received_at", ReceivedAtFilter),
        ("first_attempt_at", admin.EmptyFieldListFilter),
        ("first_contact_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("source", "owner")
    search_fields = ("phone", "email", "source_lead_id", "first_name", "last_name")
    search_help_text = (
        "A phone number, an email address, the source's lead id, or a first, last or full name "
        "(whole words)."
    )
    sortable_by = ("received_at", "score")
    ordering = ("-received_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ("owner",)
    # What intake and the business functions own: how the lead arrived, what it cost, where
    # it stands. A manager edits the person's details and who works the lead.
    readonly_fields = (
        "source",
        "source_lead_id",
        "received_at",
        "status",
        "time_zone",
        "cost",
        "is_exclusive",
        "extra",
        "score",
        "score_explained",
        "first_attempt_at",
        "first_contact_at",
        "duplicate_of",
        "quality_flags",
        "processed_at",
        "fast_lane_failures",
        "created_at",
        "updated_at",
    )
    inlines = (
        ConsentRecordInline,
        ContactAttemptInline,
        ConversionInline,
        LeadReturnInline,
        LeadNoteInline,
        LeadAssignmentInline,
    )
    history_list_display = ("status", "owner", "score")
    actions = ("reassign_leads", "fast_lane_retry", "rescore_leads")
    fieldsets = (
        (None, {"fields": ("source", "source_lead_id", "received_at", "status", "owner")}),
        ("Person", {"fields": ("first_name", "last_name", "phone", "email")}),
        ("Address", {"fields": ("street", "city", "state", "zip_code", "time_zone")}),
        ("Purchase", {"fields": ("product", "cost", "is_exclusive", "extra")}),
        (
            "Follow-up",
            {
                "fields": (
                    "score",
                    "score_explained",
                    "first_attempt_at",
                    "first_contact_at",
                    "duplicate_of",
                    "quality_flags",
                )
            },
        ),
        ("Fast lane", {"fields": ("processed_at", "fast_lane_failures")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        ("Person", {"fields": ("first_name", "last_name", "phone", "email")}),
        ("Address", {"fields": ("street", "city", "state", "zip_code")}),
        ("Interest", {"fields": ("product",)}),
        (
            "Consent",
            {
                "fields": (
                    "consent_channels",
                    "consent_capture_method",
                    "consent_captured_at",
                    "consent_disclosure_text",
                )
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    @admin.display(description="why this score")
    def score_explained(self, obj):
        return score_breakdown(lead=obj) or "—"

    @admin.display(description="to first call")
    def to_first_attempt(self, obj):
        return duration_text(obj.time_to_first_attempt)

    @admin.display(description="to first contact")
    def to_first_contact(self, obj):
        return duration_text(obj.time_to_first_contact)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LeadAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            owner_changed = "owner" in form.changed_data
            new_owner = obj.owner
            if owner_changed:  # given below, through routing's function, and recorded
                obj.owner_id = form.initial.get("owner")
            super().save_model(request, obj, form, change)
            if owner_changed:
                lead_assign(
                    lead=obj,
                    rep_user=new_owner,
                    reason=AssignmentReason.MANAGER,
                    assigned_by=request.user,
                    note="Changed on the lead's admin page",
                )
            return
        # Added by hand: stored by intake, as the API stores a source's lead.
        result = leads_store(checked=form.checked)[0]
        obj.pk = result.lead_id
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @admin.action(description="Reassign to a rep or the pool…", permissions=["change"])
    def reassign_leads(self, request, queryset):
        form = LeadReassignForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            count = leads_reassign(
                leads=queryset,
                rep_user=form.cleaned_data["rep"],
                assigned_by=request.user,
                note=form.cleaned_data["reason"],
            )
            messages.success(request, f"Reassigned {count} lead(s).")
            return None
        return TemplateResponse(
            request,
            "admin/leads/lead/reassign.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reassign leads",
                "form": form,
                "leads": list(queryset.select_related("owner")),
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Retry the fast lane for leads it failed on")
    def fast_lane_retry(self, request, queryset):
        count = leads_fast_lane_retry(leads=queryset)
        messages.success(request, f"{count} lead(s) go back to the fast lane within seconds.")

    @admin.action(description="Rescore selected leads", permissions=["change"])
    def rescore_leads(self, request, queryset):
        return admin_scoring.rescore_start(request, leads=queryset)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(lead_search_filter(search_term)), False


@admin.register(ContactAttempt)
class ContactAttemptAdmin(SimpleHistoryAdmin):
    list_display = (
        "started_at",
        "lead",
        "channel",
        "direction",
        "rep",
        "duration_seconds",
        "disposition",
    )
    list_filter = ("channel", "direction", "disposition", "started_at")
    list_select_related = ("lead", "rep")
    search_fields = ("lead__phone", "lead__email", "lead__last_name")
    search_help_text = "The lead's phone number, email address or name."
    sortable_by = ("started_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    autocomplete_fields = ("lead", "rep")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(lead_search_filter(search_term, prefix="lead__")), False


@admin.register(Touch)
class TouchAdmin(admin.ModelAdmin):
    """Texts and emails, planned and sent. Read-only: the gate's decisions are their record."""

    list_display = ("due_at", "lead", "channel", "purpose", "status", "status_note", "sent_at")
    list_filter = ("status", "channel", "purpose", "due_at")
    actions = ("resend_interrupted",)
    list_select_related = ("lead",)
    search_fields = ("lead__phone", "lead__email", "lead__last_name")
    search_help_text = "The lead's phone number, email address or name."
    sortable_by = ("due_at", "sent_at")
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(lead_search_filter(search_term, prefix="lead__")), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.is_superuser or request.user.groups.filter(name=MANAGER).exists()

    @admin.action(
        description="Resend: the send was interrupted and may not have gone (status: unknown)",
        permissions=["resend"],
    )
    def resend_interrupted(self, request, queryset):
        resent = sum(touch_resend(touch=touch, by=request.user) for touch in queryset)
        skipped = len(queryset) - resent
        messages.success(request, f"Queued {resent} touch(es) to send again.")
        if skipped:
            messages.warning(
                request, f"Left {skipped} alone: only touches whose fate is unknown are resent."
            )


class RepProfileInline(admin.StackedInline):
    model = RepProfile
    can_delete = False
    extra = 0


@admin.register(RepProfile)
class RepProfileAdmin(SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "user",
        "is_active",
        "capacity",
        "time_zone",
        "open_leads",
        "last_assigned_at",
    )
    actions = ("pause_reps", "resume_reps")
    list_filter = ("is_active",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    autocomplete_fields = ("user",)

    @admin.display(description="open leads")
    def open_leads(self, obj):
        return obj.open_lead_count

    @admin.action(description="Pause: route no new leads to these reps", permissions=["change"])
    def pause_reps(self, request, queryset):
        for rep in queryset:
            rep_pause(rep=rep, paused=True)
        messages.success(request, f"Paused {len(queryset)} rep(s); their open leads stay theirs.")

    @admin.action(description="Resume: route new leads to these reps", permissions=["change"])
    def resume_reps(self, request, queryset):
        for rep in queryset:
            rep_pause(rep=rep, paused=False)
        messages.success(request, f"Resumed {len(queryset)} rep(s).")

    def get_queryset(self, request):
        return super().get_queryset(request).with_open_lead_count()


admin.site.unregister(User)


@admin.register(User)
class LeadlineUserAdmin(UserAdmin):
    """Superusers manage everyone; managers manage reps (crm.roles)."""

    inlines = (RepProfileInline,)
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "role_names")
    list_filter = ("is_staff", "is_active", "groups")
    # What only a superuser may grant.
    superuser_only_fields = ("is_superuser", "is_staff", "user_permissions")

    def has_change_permission(self, request, obj=None):
        if obj is not None and not user_is_manageable_by(user=obj, actor=request.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not user_is_manageable_by(user=obj, actor=request.user):
            return False
        return super().has_delete_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": self._managed_fields(options["fields"])})
            for name, options in fieldsets
        ]

    def _managed_fields(self, fields):
        return tuple(field for field in fields if field not in self.superuser_only_fields)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = grantable_groups(actor=request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="roles")
    def role_names(self, obj):
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")
