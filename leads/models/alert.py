from django.conf import settings
from django.db import models


class AlertKind(models.TextChoices):
    NEW_LEAD = "new_lead", "New lead"
    CALLBACK_DUE = "callback_due", "Callback due"
    SLA_BREACHED = "sla_breached", "Speed-to-lead SLA missed"
    SLA_REASSIGNED = "sla_reassigned", "Reassigned after a missed SLA"
    SLA_MANAGERS = "sla_managers", "Still not called after reassignment"
    REPLY = "reply", "The lead replied"


class Alert(models.Model):
    """Something a rep or manager should see now; the rep's queue page shows unseen ones
    as they arrive, with a sound or a browser notification if the rep switched it on."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "created_at"],
                name="alert_unseen_idx",
                condition=models.Q(seen_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.message}"
