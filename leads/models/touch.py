from django.conf import settings
from django.db import models
from django.utils import timezone

from leads.choices import Channel


class TouchStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued to send"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    BLOCKED = "blocked", "Blocked by compliance"
    FAILED = "failed", "Failed"


class Touch(models.Model):
    """One planned outbound text or email to a lead, due at an instant.

    The compliance gate decides when it is scheduled and again at the moment of sending;
    both decisions are kept (ContactDecision.touch). A blocked touch is never sent; a
    deferred one waits, scheduled, until the instant the gate named.
    """

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="touches")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    purpose = models.CharField(
        max_length=14,
        default="marketing",
        help_text="marketing, or transactional (compliance.models.Purpose).",
    )
    automated = models.BooleanField(
        default=True, help_text="Sent by the system, not dialled or typed one at a time."
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    due_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=10, choices=TouchStatus.choices, default=TouchStatus.SCHEDULED
    )
    status_note = models.TextField(
        blank=True, help_text="Why it waits or was blocked, or the provider's error."
    )
    deferrals = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempt = models.OneToOneField(
        "leads.ContactAttempt",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="touch",
        help_text="The logged attempt, once sent.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The rep who wrote it; empty for cadence touches.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-due_at"]
        verbose_name_plural = "touches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__in=[Channel.SMS, Channel.EMAIL]),
                name="touch_channel_is_text_or_email",
            ),
        ]
        indexes = [
            # The clock's query: due scheduled touches, oldest first.
            models.Index(
                fields=["due_at"],
                name="touch_due_idx",
                condition=models.Q(status="scheduled"),
            ),
            # Touches handed to a send task that never ran (a lost queue message).
            models.Index(
                fields=["queued_at"],
                name="touch_queued_idx",
                condition=models.Q(status="queued"),
            ),
            models.Index(fields=["lead", "-due_at"], name="touch_lead_idx"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} to lead #{self.lead_id} ({self.get_status_display()})"
