from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from crm.history import history_user
from leads.choices import USState
from leads.validators import validate_time_zone

# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class PhoneType(models.TextChoices):
    MOBILE = "mobile", "Mobile"
    LANDLINE = "landline", "Landline"
    VOIP = "voip", "VoIP"
    TOLL_FREE = "toll_free", "Toll-free"
    UNKNOWN = "unknown", "Unknown"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    CONTACTED = "contacted", "Contacted"
    APPOINTMENT = "appointment", "Appointment set"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    RETURNED = "returned", "Returned to source"
    INVALID = "invalid", "Invalid"
    DO_NOT_CONTACT = "do_not_contact", "Do not contact"


# After this many failures the fast lane stops retrying a lead and leaves it to a person.
FAST_LANE_MAX_FAILURES = 3

OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.CONTACTED, LeadStatus.APPOINTMENT)


class LeadQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(owner=user)

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def unprocessed(self):
        """Leads the fast lane has still to process and may still retry."""
        return self.filter(processed_at__isnull=True, fast_lane_failures__lt=FAST_LANE_MAX_FAILURES)

    def fast_lane_failed(self):
        """Leads the fast lane gave up on, waiting for a person."""
        return self.filter(
            processed_at__isnull=True, fast_lane_failures__gte=FAST_LANE_MAX_FAILURES
        )


class Lead(models.Model):
    """A purchased lead: a person who asked to be contacted about a product."""

    # No index of its own: the (source, source_lead_id) constraint leads with it.
    source = models.ForeignKey(
        "leads.LeadSource", on_delete=models.PROTECT, related_name="leads", db_index=False
    )
    source_lead_id = models.CharField(
        "source's lead id", max_length=100, help_text="The vendor's own id for this lead."
    )
    received_at = models.DateTimeField()
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = PhoneNumberField(help_text="Stored in E.164, e.g. +13055550123.")
    phone_type = models.CharField(
        max_length=10, choices=PhoneType.choices, default=PhoneType.UNKNOWN, blank=True
    )
    email = models.EmailField(max_length=254, blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, choices=USState.choices, blank=True)
    zip_code = models.CharField("ZIP", max_length=10, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="The lead's IANA time zone, e.g. America/Chicago.",
    )
    area_code_time_zones = models.JSONField(
        default=list,
        blank=True,
        help_text="The zones the phone's area code covers; calling hours must suit all of them.",
    )
    time_zone_mismatch = models.BooleanField(
        default=False, help_text="The ZIP's zone is not among the area code's zones."
    )
    product = models.CharField(max_length=64, blank=True)
    campaign = models.CharField(
        max_length=100, blank=True, help_text="The source's own sub-id or campaign."
    )
    language = models.CharField(
        max_length=8, blank=True, help_text="ISO 639-1 code, e.g. es, when the source says."
    )
    extra = models.JSONField("extra fields", default=dict, blank=True)
    quality_flags = models.JSONField(
        default=list, blank=True, help_text="Doubts raised at intake; the lead is kept."
    )
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    is_exclusive = models.BooleanField("exclusive", default=True)
    status = models.CharField(
        max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW, db_index=False
    )
    score = models.PositiveSmallIntegerField(default=0, help_text="0 to 100; higher is better.")
    score_factors = models.JSONField(
        default=list, blank=True, help_text="What the score is the sum of: [what, points] pairs."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_leads",
        limit_choices_to={"rep_profile__isnull": False},
    )
    first_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a rep first called (automated texts do not count)."
    )
    first_contact_at = models.DateTimeField(
        null=True, blank=True, help_text="When a rep first spoke with the person."
    )
    phone_invalid_at = models.DateTimeField(
        null=True, blank=True, help_text="When the carrier said the number does not exist."
    )
    email_invalid_at = models.DateTimeField(
        null=True, blank=True, help_text="When the address bounced for good."
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        help_text="The earlier lead with the same phone or email.",
    )
    callable_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the compliance gate next allows a rep's call; empty: never, as it stands.",
    )
    callable_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the calling hours that open at callable_at close again.",
    )
    priority = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text='Where "next lead" takes it: higher first.'
    )
    queue_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Order within its priority, earliest first: a callback's time, when it "
        "arrived, or when it was last called.",
    )
    last_attempt_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a rep last called."
    )
    sla_due_at = models.DateTimeField(
        "speed-to-lead due",
        null=True,
        blank=True,
        editable=False,
        help_text="When a rep must have called by; empty once called.",
    )
    sla_next_at = models.DateTimeField(
        "next escalation",
        null=True,
        blank=True,
        editable=False,
        help_text="When its next speed-to-lead escalation step is due; empty when none is.",
    )
    sla_stage = models.PositiveSmallIntegerField(
        "escalation",
        default=0,
        editable=False,
        help_text="0: on time; 1: rep alerted; 2: reassigned; 3: managers alerted.",
    )
    processed_at = models.DateTimeField(
        "processed by the fast lane",
        null=True,
        blank=True,
        editable=False,
        help_text="When the fast lane scored this lead and wrote its first history.",
    )
    fast_lane_failures = models.PositiveSmallIntegerField(
        default=0,
        editable=False,
        help_text="Times the fast lane failed on this lead; at 3 it waits for a person.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)
    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_lead_id"], name="lead_unique_source_lead_id"
            ),
            models.CheckConstraint(
                condition=models.Q(phone__regex=E164_PATTERN), name="lead_phone_e164"
            ),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="lead_score_max_100"),
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="lead_cost_not_negative"),
            models.CheckConstraint(
                condition=~models.Q(duplicate_of=models.F("pk")), name="lead_not_own_duplicate"
            ),
        ]
        indexes = [
            # Dedup looks for the first lead with this phone or email inside a window.
            models.Index(fields=["phone", "received_at"], name="lead_phone_received_idx"),
            models.Index(fields=["email", "received_at"], name="lead_email_received_idx"),
            models.Index(fields=["status", "owner"], name="lead_status_owner_idx"),
            # Matches the admin's and the queues' ORDER BY received_at DESC, id DESC.
            models.Index(fields=["-received_at", "-id"], name="lead_received_idx"),
            models.Index(fields=["source", "-received_at"], name="lead_source_received_idx"),
            # Search looks a vendor's id up without knowing the vendor.
            models.Index(fields=["source_lead_id"], name="lead_source_lead_id_idx"),
            models.Index(Upper("last_name"), name="lead_last_name_upper_idx"),
            models.Index(Upper("first_name"), name="lead_first_name_upper_idx"),
            # "Next lead": open leads that may be called, best first (leads.workspace.queue).
            models.Index(
                models.F("priority").desc(),
                "queue_at",
                name="lead_next_idx",
                condition=models.Q(status__in=OPEN_STATUSES, callable_at__isnull=False),
            ),
            # The clock's refresh of calling windows that have closed, and of leads never queued.
            models.Index(
                fields=["callable_until"],
                name="lead_window_closes_idx",
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
            # The clock's speed-to-lead escalations: leads not yet called, soonest due first.
            models.Index(
                fields=["sla_due_at"],
                name="lead_sla_due_idx",
                # A lead whose last step is done (managers alerted) leaves the index.
                condition=models.Q(
                    status__in=OPEN_STATUSES, sla_due_at__isnull=False, sla_stage__lt=3
                ),
            ),
            # The clock's escalations: only leads with a step due, soonest first.
            models.Index(
                fields=["sla_next_at"],
                name="lead_sla_next_idx",
                condition=models.Q(status__in=OPEN_STATUSES, sla_next_at__isnull=False),
            ),
            models.Index(
                fields=["received_at"],
                name="lead_unqueued_idx",
                condition=models.Q(status__in=OPEN_STATUSES, priority=0),
            ),
            # The clock's sweep: the few leads the fast lane has not processed yet.
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="lead_unprocessed_idx",
            ),
        ]

    def __str__(self):
        return f"{self.full_name or 'Unnamed lead'} ({self.phone})"

    def save(self, *args, **kwargs):
        # Emails compare case-insensitively everywhere (dedup, suppression, search).
        self.email = self.email.strip().lower()
        self.state = self.state.upper()
        super().save(*args, **kwargs)

    @property
    def time_to_first_attempt(self):
        return self.first_attempt_at - self.received_at if self.first_attempt_at else None

    @property
    def time_to_first_contact(self):
        return self.first_contact_at - self.received_at if self.first_contact_at else None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
