from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class ConversionKind(models.TextChoices):
    CONTACTED = "contacted", "Contacted"
    APPOINTMENT = "appointment", "Appointment"
    SALE = "sale", "Sale"


class ConversionOrigin(models.TextChoices):
    REP = "rep", "A rep's call outcome"
    ADMIN = "admin", "Entered in the admin"
    API = "api", "The business's own systems (API)"


class Conversion(models.Model):
    """One step a lead took toward a sale: the ledger the feedback to sources and the
    dashboard read. A lead may have several (contacted, then an appointment, then a sale)."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="conversions")
    kind = models.CharField(max_length=12, choices=ConversionKind.choices)
    revenue = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What the sale brought in; sales only.",
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    origin = models.CharField(max_length=8, choices=ConversionOrigin.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    attempt = models.ForeignKey(
        "leads.ContactAttempt",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversions",
        help_text="The call whose outcome recorded it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="sale", revenue__isnull=False)
                | (~models.Q(kind="sale") & models.Q(revenue__isnull=True)),
                name="conversion_revenue_on_sales_only",
            ),
            models.CheckConstraint(
                condition=models.Q(revenue__isnull=True) | models.Q(revenue__gte=0),
                name="conversion_revenue_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "occurred_at"], name="conversion_lead_idx"),
            models.Index(fields=["kind", "occurred_at"], name="conversion_kind_idx"),
        ]

    def __str__(self):
        what = self.get_kind_display()
        if self.revenue is not None:
            what = f"{what} ${self.revenue:,.2f}"
        return f"{what} for lead #{self.lead_id}"
