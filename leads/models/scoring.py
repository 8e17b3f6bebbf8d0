from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ScoringFactor(models.Model):
    """One named factor of a lead's score and the points it adds; managers edit the points.

    The rules that decide whether a factor applies live in `leads.scoring`; the key names
    the rule, so a factor cannot be invented here, only weighed.
    """

    key = models.SlugField(max_length=40, unique=True, editable=False)
    label = models.CharField(max_length=80, help_text="How the breakdown names it.")
    points = models.SmallIntegerField(
        validators=[MinValueValidator(-100), MaxValueValidator(100)],
        help_text="Added to the score when the factor applies; negative to subtract.",
    )
    is_active = models.BooleanField("counted", default=True)
    description = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return f"{self.label} ({self.points:+d})"
