import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from crm.history import history_user
from leads.models.lead import OPEN_STATUSES
from leads.validators import validate_state_list, validate_string_list, validate_time_zone


def default_work_days() -> list[int]:
    return [0, 1, 2, 3, 4]


def validate_work_days(value) -> None:
    if not isinstance(value, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in value):
        raise ValidationError("Enter weekday numbers from 0 (Monday) to 6 (Sunday).")


class RepProfileQuerySet(models.QuerySet):
    def with_open_lead_count(self):
        return self.annotate(
            open_lead_count=models.Count(
                "user__owned_leads", filter=models.Q(user__owned_leads__status__in=OPEN_STATUSES)
            )
        )


class RepProfile(models.Model):
    """What routing needs to know about a sales rep."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rep_profile"
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive reps receive no new leads."
    )
    phone = PhoneNumberField(
        blank=True, help_text="Where the lead-to-call bridge rings the rep first."
    )
    capacity = models.PositiveSmallIntegerField(
        default=50, help_text="Most open leads this rep holds at once."
    )
    licensed_states = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_state_list],
        help_text='Two-letter codes, e.g. ["FL", "GA"]. Empty means every state.',
    )
    languages = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text='ISO 639-1 codes, e.g. ["en", "es"].',
    )
    time_zone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_time_zone]
    )
    work_starts_at = models.TimeField(default=datetime.time(9, 0))
    work_ends_at = models.TimeField(default=datetime.time(17, 0))
    work_days = models.JSONField(
        default=default_work_days,
        validators=[validate_work_days],
        help_text="0 is Monday, 6 is Sunday.",
    )
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When routing last gave this rep a lead."
    )

    history = HistoricalRecords(get_user=history_user)
    objects = RepProfileQuerySet.as_manager()

    class Meta:
        verbose_name = "rep"
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(work_ends_at__gt=models.F("work_starts_at")),
                name="rep_work_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()

    def is_licensed_in(self, state: str) -> bool:
        return not self.licensed_states or state in self.licensed_states

    def speaks(self, language: str) -> bool:
        return not language or not self.languages or language in self.languages

    def is_working_at(self, moment: datetime.datetime) -> bool:
        """Say whether `moment` falls in this rep's working hours, in the rep's own zone."""
        local = moment.astimezone(zoneinfo.ZoneInfo(self.time_zone))
        return (
            local.weekday() in self.work_days
            and self.work_starts_at <= local.time() < self.work_ends_at
        )
