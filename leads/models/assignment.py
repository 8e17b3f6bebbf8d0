from django.conf import settings
from django.db import models


class AssignmentReason(models.TextChoices):
    ROUTING = "routing", "Routed to an eligible rep"
    SLA = "sla", "Reassigned: speed-to-lead SLA"
    MANAGER = "manager", "Reassigned by a manager"
    CLAIM = "claim", "Claimed by the rep"


class LeadAssignment(models.Model):
    """Who gave a lead to whom, and why: one row each time its rep changes."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="assignments")
    from_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="from",
    )
    to_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="to",
        help_text="Empty: back to the unassigned pool.",
    )
    reason = models.CharField(max_length=10, choices=AssignmentReason.choices)
    note = models.CharField(max_length=300, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The manager or rep who did it; empty when Leadline did.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="assignment_lead_idx")]

    def __str__(self):
        return f"Lead #{self.lead_id} to {self.to_rep or 'the pool'} ({self.get_reason_display()})"
