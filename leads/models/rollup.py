from decimal import Decimal

from django.conf import settings
from django.db import models

# Minutes to a lead's first attempt or first contact, bucketed by their lower bound: a
# histogram per row, so a period's median comes from summed buckets instead of every lead.
TIMING_BUCKETS = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 180, 240,
    360, 480, 720, 1080, 1440, 2160, 2880, 4320, 7200, 10080, 20160, 43200,
)  # fmt: skip


def _money(**kwargs):
    return models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"), **kwargs)


class SourceDayRollup(models.Model):
    """What the leads a source sold on one UTC day (one campaign, exclusive or shared) cost
    and what came of them so far: the managers' dashboard reads only these rows."""

    day = models.DateField(help_text="The UTC day the leads were received.")
    source = models.ForeignKey("leads.LeadSource", on_delete=models.CASCADE, related_name="+")
    campaign = models.CharField(max_length=100, blank=True)
    is_exclusive = models.BooleanField()
    leads = models.PositiveIntegerField(default=0)
    spend = _money()
    duplicates = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0, help_text="Returns asked, not rejected.")
    credits = _money(help_text="What accepted returns credited.")
    attempted = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    appointments = models.PositiveIntegerField(default=0)
    sales = models.PositiveIntegerField(default=0, help_text="Leads with at least one sale.")
    revenue = _money()
    first_attempt_minutes = models.JSONField(
        default=dict, help_text="Leads per bucket of minutes to the first attempt."
    )
    first_contact_minutes = models.JSONField(
        default=dict, help_text="Leads per bucket of minutes to the first contact."
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "source figures for a day"
        verbose_name_plural = "source figures by day"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "source", "campaign", "is_exclusive"], name="source_rollup_unique"
            )
        ]

    def __str__(self):
        return f"{self.source_id} {self.day} {self.campaign or '-'}"


class RepDayRollup(models.Model):
    """What came of the leads a rep owns that arrived on one UTC day."""

    day = models.DateField(help_text="The UTC day the leads were received.")
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    leads = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0, help_text="Calls to these leads.")
    attempted = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    sales = models.PositiveIntegerField(default=0)
    revenue = _money()
    first_attempt_minutes = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "rep figures for a day"
        verbose_name_plural = "rep figures by day"
        constraints = [models.UniqueConstraint(fields=["day", "rep"], name="rep_rollup_unique")]

    def __str__(self):
        return f"{self.rep_id} {self.day}"
