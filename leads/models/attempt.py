from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from crm.history import history_user
from leads.choices import Channel


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class Disposition(models.TextChoices):
    NO_ANSWER = "no_answer", "No answer"
    VOICEMAIL = "voicemail", "Left voicemail"
    BUSY = "busy", "Busy"
    BAD_NUMBER = "bad_number", "Bad number"
    CONTACTED = "contacted", "Contacted"
    APPOINTMENT_SET = "appointment_set", "Appointment set"
    SALE = "sale", "Sale"
    NOT_INTERESTED = "not_interested", "Not interested"
    DO_NOT_CONTACT = "do_not_contact", "Asked not to be contacted"
    CALLBACK_REQUESTED = "callback_requested", "Callback requested"


class ContactAttempt(models.Model):
    """One call, text or email to or from a lead, and how it ended."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="attempts")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.OUTBOUND
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contact_attempts",
        help_text="Empty for automated touches.",
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Talk time; filled from start and end when left empty."
    )
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="attempt_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-started_at"], name="attempt_lead_started_idx"),
            models.Index(fields=["rep", "-started_at"], name="attempt_rep_started_idx"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.get_direction_display().lower()} #{self.pk}"

    def save(self, *args, **kwargs):
        if self.duration_seconds is None and self.ended_at and self.started_at:
            self.duration_seconds = int((self.ended_at - self.started_at).total_seconds())
        super().save(*args, **kwargs)
