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
    DELIVERED = "delivered", "Delivered"
    UNKNOWN = "unknown", "Interrupted: unknown whether sent"
    DONE = "done", "Called"
    SKIPPED = "skipped", "Skipped (a cadence condition)"
    CANCELLED = "cancelled", "Cancelled"
    HELD = "held", "Held (its cadence is paused)"


# The channels a touch sends by itself; a call touch waits for a rep to dial it.
SENT_CHANNELS = [Channel.SMS, Channel.EMAIL]


class Touch(models.Model):
    """One planned contact with a lead, due at an instant: a text or an email the system
    sends, or a call the lead's rep is to make (a callback the lead asked for, or a
    cadence's call task).

    The compliance gate decides a text or email when it is scheduled and again at the moment
    of sending; both decisions are kept (ContactDecision.touch). A blocked touch is never
    sent; a deferred one waits, scheduled, until the instant the gate named. A call touch is
    never sent: it puts the lead at the top of its rep's queue when due, and is done when
    the rep dials (the call itself passes the gate then).
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
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Handed to a send task; for a call, when its rep was told it is due.",
    )
    provider_message_id = models.CharField(max_length=100, blank=True)
    send_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a send task handed it to the provider or tried to."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a send task last claimed it: a touch left sending long after this "
        "had its worker die before the provider answered.",
    )
    cadence_step = models.ForeignKey(
        "leads.CadenceStep",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touches",
        help_text="The cadence step it was planned for; empty for a rep's own touch.",
    )
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
        help_text="The rep who wrote or scheduled it; empty for cadence touches.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    bridge_reps = models.JSONField(
        default=list,
        blank=True,
        help_text="A lead-to-call bridge: the ids of the reps rung, in order; the last is "
        "the one on the call.",
    )

    class Meta:
        ordering = ["-due_at"]
        verbose_name_plural = "touches"
        constraints = [
            models.CheckConstraint(
                # A rep's call (a callback, a call task) is dialled by the rep; only an
                # automated lead-to-call bridge is placed by the system.
                condition=~models.Q(
                    channel=Channel.CALL,
                    automated=False,
                    status__in=["queued", "sending", "sent", "delivered", "unknown"],
                ),
                name="touch_call_never_sent",
            ),
        ]
        indexes = [
            # The clock's query: due scheduled texts and emails, oldest first.
            models.Index(
                fields=["due_at"],
                name="touch_due_idx",
                condition=models.Q(status="scheduled", channel__in=SENT_CHANNELS),
            ),
            # A lead's pending calls (callbacks, call tasks), for its place in the queue.
            models.Index(
                fields=["lead", "due_at"],
                name="touch_call_due_idx",
                condition=models.Q(status="scheduled", channel=Channel.CALL),
            ),
            # Call touches that have come due and whose rep has not been told yet.
            models.Index(
                fields=["due_at"],
                name="touch_call_alert_idx",
                condition=models.Q(status="scheduled", channel=Channel.CALL, queued_at=None),
            ),
            # Touches handed to a send task that never ran (a lost queue message).
            models.Index(
                fields=["queued_at"],
                name="touch_queued_idx",
                condition=models.Q(status="queued"),
            ),
            # The clock's query for lead-to-call bridges that have come due.
            models.Index(
                fields=["due_at"],
                name="touch_bridge_due_idx",
                condition=models.Q(status="scheduled", channel=Channel.CALL, automated=True),
            ),
            # Bridges placing long after they were queued: a callback may have been lost.
            models.Index(
                fields=["queued_at"],
                name="touch_bridge_sending_idx",
                condition=models.Q(status="sending", channel=Channel.CALL, automated=True),
            ),
            # Sends interrupted between claim and the provider's answer, for reconciliation.
            models.Index(
                fields=["sending_at"],
                name="touch_sending_idx",
                condition=models.Q(status="sending"),
            ),
            # Emails whose fate is unknown, listed for a manager to resend.
            models.Index(
                fields=["due_at"], name="touch_unknown_idx", condition=models.Q(status="unknown")
            ),
            models.Index(fields=["lead", "-due_at"], name="touch_lead_idx"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} to lead #{self.lead_id} ({self.get_status_display()})"
