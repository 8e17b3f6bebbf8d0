from django.core.validators import MaxValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from crm.history import history_user
from leads.validators import validate_string_list


class StepChannel(models.TextChoices):
    SMS = "sms", "Automated text"
    EMAIL = "email", "Automated email"
    CALL_TASK = "call_task", "Call task for the lead's rep"
    BRIDGE = "bridge", "Automated lead-to-call (rep first, then the lead)"


class StepDelayFrom(models.TextChoices):
    PREVIOUS = "previous", "After the previous step"
    INTAKE = "intake", "After the lead arrived"


class Cadence(models.Model):
    """A named sequence of follow-up steps a lead walks through until it converts, says
    stop, or the steps run out. Sources and products choose theirs."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)
    is_default = models.BooleanField(
        default=False, help_text="Used for leads whose source and product choose none."
    )
    products = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text='Products whose leads follow this cadence, e.g. ["solar"]; the product '
        "choice wins over the source's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="cadence_one_default",
            ),
        ]

    def __str__(self):
        return self.name


class CadenceStep(models.Model):
    """One step of a cadence: a channel, a delay and a message template."""

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0, db_index=True)
    channel = models.CharField(max_length=10, choices=StepChannel.choices)
    delay_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(60 * 24 * 365)]
    )
    delay_from = models.CharField(
        max_length=10, choices=StepDelayFrom.choices, default=StepDelayFrom.PREVIOUS
    )
    subject_template = models.CharField(
        max_length=200, blank=True, help_text="Emails only. Django template syntax."
    )
    body_template = models.TextField(
        blank=True,
        help_text="Django template syntax over {{ lead }}, {{ rep }} and {{ business }}.",
    )
    only_if_not_contacted = models.BooleanField(
        default=True, help_text="Skip once a rep has spoken with the person."
    )
    weekdays_only = models.BooleanField(
        default=False, help_text="Move to the next weekday (the lead's time) when due on a weekend."
    )
    skip_without_consent = models.BooleanField(
        default=True, help_text="Skip when the lead gave no consent for this channel."
    )

    class Meta:
        # The position first: django-admin-sortable2 orders the admin's inline by it.
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.cadence} #{self.position}: {self.get_channel_display()}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    FINISHED = "finished", "Finished"


class CadenceEnrollment(models.Model):
    """Where one lead stands in its cadence."""

    lead = models.OneToOneField(
        "leads.Lead", on_delete=models.CASCADE, related_name="cadence_enrollment"
    )
    cadence = models.ForeignKey(Cadence, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    next_position = models.PositiveSmallIntegerField(
        default=0, help_text="The position of the next step to plan."
    )
    stop_reason = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its last step was planned; the clock finishes it once nothing is "
        "left to do after then.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["cadence", "status"], name="enrollment_cadence_idx"),
            # The clock's query: active enrollments whose last step's time has passed.
            models.Index(
                fields=["ends_at"],
                name="enrollment_ends_idx",
                condition=models.Q(status="active"),
            ),
        ]

    def __str__(self):
        return f"Lead #{self.lead_id} in {self.cadence} ({self.get_status_display()})"
