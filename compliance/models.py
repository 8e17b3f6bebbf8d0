import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

# Defined apart so the gate's rules can read them without models; callers import them from here
# too.
from compliance.choices import (
    CaptureMethod,
    DecisionStage,
    DncListKind,
    DncListStatus,
    Purpose,
    RevocationMeans,
    SuppressionOrigin,
    SuppressionScope,
)
from crm.history import history_user
from leads.choices import Channel, USState
from leads.validators import validate_channel_list, validate_string_list

# What a source captured of a lead's consent: stored as sent, read as evidence, never edited.
CONSENT_EVIDENCE_FIELDS = (
    "channels",
    "seller_names",
    "disclosure_text",
    "disclosure_sha256",
    "captured_at",
    "ip_address",
    "user_agent",
    "page_url",
    "trustedform_cert_url",
    "jornaya_leadid",
)


def disclosure_fingerprint(disclosure_text: str) -> str:
    """Return the SHA-256 of the disclosure words shown, proving later which words they were."""
    return hashlib.sha256(disclosure_text.encode()).hexdigest() if disclosure_text else ""


class ConsentRecord(models.Model):
    """Evidence that a lead agreed to be contacted: what they saw, where, and when."""

    # Indexed by consent_lead_idx (lead, -captured_at), which serves lookups by lead alone.
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.PROTECT, related_name="consents", db_index=False
    )
    channels = models.JSONField(
        "channels covered",
        default=list,
        validators=[validate_channel_list],
        help_text=f"Any of {', '.join(Channel.values)}.",
    )
    seller_names = models.JSONField(
        "seller names shown",
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text="The businesses the disclosure named.",
    )
    disclosure_text = models.TextField(blank=True, help_text="Exactly as shown to the lead.")
    disclosure_sha256 = models.CharField(max_length=64, editable=False, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.TextField(blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    trustedform_cert_url = models.URLField(
        "TrustedForm certificate URL", max_length=500, blank=True
    )
    jornaya_leadid = models.CharField("Jornaya LeadiD", max_length=64, blank=True)
    capture_method = models.CharField(
        max_length=20, choices=CaptureMethod.choices, default=CaptureMethod.WEB_FORM
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_means = models.CharField(max_length=16, choices=RevocationMeans.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-captured_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | ~models.Q(revocation_means=""),
                name="consent_revocation_has_means",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-captured_at"], name="consent_lead_idx"),
            # Intake flags an IP that submits many leads in a short window.
            models.Index(fields=["ip_address", "created_at"], name="consent_ip_created_idx"),
        ]

    def __str__(self):
        channels = ", ".join(self.channels) or "no channels"
        return f"Consent #{self.pk} ({channels})"

    def save(self, *args, **kwargs):
        self.disclosure_sha256 = disclosure_fingerprint(self.disclosure_text)
        super().save(*args, **kwargs)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class SuppressionDeletionRefused(Exception):
    """Suppressions are evidence of an opt-out and are kept for good."""


class SuppressionQuerySet(models.QuerySet):
    def delete(self):
        raise SuppressionDeletionRefused("Suppression entries are never deleted.")


class Suppression(models.Model):
    """An opt-out or do-not-contact entry for a phone or an email. Never deleted."""

    phone = PhoneNumberField(blank=True)
    email = models.EmailField(max_length=254, blank=True)
    channel_scope = models.CharField(
        max_length=8, choices=SuppressionScope.choices, default=SuppressionScope.ALL
    )
    origin = models.CharField(max_length=20, choices=SuppressionOrigin.choices)
    reason = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="suppressions",
        help_text="The lead this request came from, when known.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmation_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the one opt-out confirmation text was sent, if it was.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)
    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(phone="") | ~models.Q(email=""),
                name="suppression_has_phone_or_email",
            ),
        ]
        indexes = [
            models.Index(fields=["phone"], name="suppression_phone_idx"),
            models.Index(fields=["email"], name="suppression_email_idx"),
            models.Index(fields=["-received_at"], name="suppression_received_idx"),
        ]

    def __str__(self):
        target = str(self.phone) if self.phone else self.email
        return f"{target} ({self.get_channel_scope_display()})"

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise SuppressionDeletionRefused("Suppression entries are never deleted.")


class DncList(models.Model):
    """One imported copy of a Do Not Call list, dated by the list's own date."""

    kind = models.CharField(max_length=10, choices=DncListKind.choices)
    state = models.CharField(
        max_length=2, choices=USState.choices, blank=True, help_text="For a state list."
    )
    list_date = models.DateField(help_text="The date of this copy of the list.")
    file_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=10, choices=DncListStatus.choices, default=DncListStatus.IMPORTING
    )
    number_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Do Not Call list"
        ordering = ["-list_date", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind=DncListKind.NATIONAL, state="")
                | (models.Q(kind=DncListKind.STATE) & ~models.Q(state="")),
                name="dnc_list_state_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["kind", "state", "status"], name="dnc_list_current_idx")]

    def __str__(self):
        name = self.get_state_display() if self.state else "National"
        return f"{name} Do Not Call list of {self.list_date:%Y-%m-%d}"


class DncNumber(models.Model):
    """A number on one copy of a Do Not Call list (E.164 text: these tables hold millions)."""

    id = models.BigAutoField(primary_key=True)
    dnc_list = models.ForeignKey(DncList, on_delete=models.CASCADE, related_name="numbers")
    phone = models.CharField(max_length=16)

    class Meta:
        verbose_name = "Do Not Call number"
        constraints = [
            # Phone first: the gate asks "is this number on any current list?".
            models.UniqueConstraint(fields=["phone", "dnc_list"], name="dnc_number_unique"),
        ]

    def __str__(self):
        return self.phone


class ContactDecision(models.Model):
    """One answer of the compliance gate, kept with the contact it governed."""

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.PROTECT, related_name="contact_decisions"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    purpose = models.CharField(max_length=14, choices=Purpose.choices, default=Purpose.MARKETING)
    automated = models.BooleanField()
    stage = models.CharField(max_length=10, choices=DecisionStage.choices)
    decided_for = models.DateTimeField(help_text="The instant the contact was asked for.")
    allowed = models.BooleanField()
    first_reason = models.CharField(
        max_length=32, blank=True, help_text="The first reason's code, for filtering."
    )
    reasons = models.JSONField(default=list, blank=True)
    next_allowed_at = models.DateTimeField(null=True, blank=True)
    attempt = models.ForeignKey(
        "leads.ContactAttempt",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    touch = models.ForeignKey(
        "leads.Touch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="decision_lead_idx"),
            models.Index(
                fields=["first_reason", "-created_at"],
                name="decision_blocked_idx",
                condition=models.Q(allowed=False),
            ),
        ]

    def __str__(self):
        verdict = "allowed" if self.allowed else f"blocked ({self.first_reason})"
        return f"{self.get_channel_display()} to lead #{self.lead_id}: {verdict}"


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(18)


class UnsubscribeLink(models.Model):
    """What an unsubscribe link stands for, behind an opaque token (no address in the URL).

    Kept for good: a link in an old email must keep working (CAN-SPAM: at least 30 days).
    """

    token = models.CharField(max_length=32, unique=True, default=new_unsubscribe_token)
    email = models.EmailField(max_length=254)
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email", "lead"], name="unsubscribe_link_unique"),
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(lead__isnull=True),
                name="unsubscribe_link_unique_without_lead",
            ),
        ]

    def __str__(self):
        return f"Unsubscribe link for {self.email}"
