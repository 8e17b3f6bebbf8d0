import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from leads.models.source import ReturnReason

API_TOKEN_PREFIX = "llt_"


def hash_api_token(token: str) -> str:
    """Return the stored form of an API token: tokens are random, so SHA-256 is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def by_token(self, token: str):
        """Return the live token row for this token, or None."""
        if not token or not token.startswith(API_TOKEN_PREFIX):
            return None
        return (
            self.filter(key_hash=hash_api_token(token), revoked_at__isnull=True)
            .select_related("user")
            .first()
        )


class ApiToken(models.Model):
    """A token the business's own systems send as `Authorization: Token <token>`; it acts
    for the manager it was made for. Only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, help_text="What uses it, e.g. billing.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_hint = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.key_hint}… for {self.user}"

    def set_new_key(self) -> str:
        """Give the row a new token and return it; only its hash is kept."""
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.key_hash = hash_api_token(token)
        self.key_hint = token[: len(API_TOKEN_PREFIX) + 6]
        return token


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    SENT = "sent", "Sent to the source"
    ACCEPTED = "accepted", "Accepted (credited)"
    REJECTED = "rejected", "Rejected"


class ReturnOrigin(models.TextChoices):
    REP = "rep", "A rep, from the lead page"
    ADMIN = "admin", "A manager, in the admin"
    API = "api", "The business's own systems (API)"
    AUTO = "auto", "Returned automatically"


class LeadReturn(models.Model):
    """A request to the source to take a lead back and credit what it cost."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="returns")
    source = models.ForeignKey("leads.LeadSource", on_delete=models.PROTECT, related_name="returns")
    reason = models.CharField(max_length=16, choices=ReturnReason.choices)
    note = models.TextField(blank=True, max_length=2000)
    status = models.CharField(
        max_length=10, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED
    )
    credit = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="What the lead cost: credited once accepted."
    )
    origin = models.CharField(max_length=8, choices=ReturnOrigin.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "return"
        ordering = ["-requested_at", "-id"]
        constraints = [
            # A rejected return may be asked again; any other stands alone.
            models.UniqueConstraint(
                fields=["lead"],
                condition=~models.Q(status="rejected"),
                name="return_one_per_lead",
            ),
            models.CheckConstraint(condition=models.Q(credit__gte=0), name="return_credit_gte_0"),
        ]
        indexes = [
            # The monthly cap and the credit totals: a source's returns in a month.
            models.Index(fields=["source", "requested_at"], name="return_source_idx"),
        ]

    def __str__(self):
        return f"Return of lead #{self.lead_id} ({self.get_status_display()})"


class FeedbackEventType(models.TextChoices):
    CONTACTED = "lead.contacted", "Lead contacted"
    APPOINTMENT = "lead.appointment", "Appointment set"
    SOLD = "lead.sold", "Lead sold"
    RETURNED = "lead.returned", "Lead returned"
    RETURN_ACCEPTED = "return.accepted", "Return accepted"
    RETURN_REJECTED = "return.rejected", "Return rejected"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be delivered"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Given up"
    NOT_SENT = "not_sent", "No webhook (exports only)"


class FeedbackEvent(models.Model):
    """One thing a source should learn about one of its leads: the outbox. Written in the
    transaction that made the change; delivered by the clock in order per lead."""

    source = models.ForeignKey(
        "leads.LeadSource", on_delete=models.PROTECT, related_name="feedback_events"
    )
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="feedback_events")
    type = models.CharField(max_length=20, choices=FeedbackEventType.choices)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(help_text="The body sent, as it was when the event happened.")
    conversion = models.ForeignKey(
        "leads.Conversion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lead_return = models.ForeignKey(
        LeadReturn, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The clock's query: pending deliveries that are due.
            models.Index(
                fields=["next_attempt_at"],
                name="feedback_due_idx",
                condition=models.Q(status="pending"),
            ),
            # Order per lead: a lead's earlier events go first.
            models.Index(fields=["lead", "id"], name="feedback_lead_idx"),
            # Exports: a source's events in a time range.
            models.Index(fields=["source", "occurred_at"], name="feedback_source_idx"),
        ]

    def __str__(self):
        return f"{self.type} for lead #{self.lead_id}"


class FeedbackDelivery(models.Model):
    """One POST of an event to its source's webhook, and what came back."""

    event = models.ForeignKey(FeedbackEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    manual = models.BooleanField(default=False, help_text="Re-sent by a manager.")

    class Meta:
        verbose_name_plural = "feedback deliveries"
        ordering = ["-attempted_at", "-id"]

    def __str__(self):
        return f"Delivery of event #{self.event_id}: {self.status_code or self.error}"


class FeedbackFileStatus(models.TextChoices):
    PREPARING = "preparing", "Preparing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class FeedbackFile(models.Model):
    """A feedback export prepared as a file: the clock's daily file per source, or a range
    too large to stream within the web server's timeout (an RQ job)."""

    source = models.ForeignKey(
        "leads.LeadSource", on_delete=models.CASCADE, related_name="feedback_files"
    )
    since = models.DateTimeField()
    until = models.DateTimeField()
    format = models.CharField(max_length=4, default="csv")
    is_daily = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=FeedbackFileStatus.choices, default=FeedbackFileStatus.PREPARING
    )
    file = models.FileField(upload_to="feedback/", blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["source", "-created_at"], name="feedback_file_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "since", "format"],
                condition=models.Q(is_daily=True),
                name="feedback_file_one_daily",
            ),
        ]

    def __str__(self):
        return f"Feedback for {self.source} {self.since:%Y-%m-%d}..{self.until:%Y-%m-%d}"
