from django.conf import settings
from django.db import models


class SourceDailyCount(models.Model):
    """Leads accepted from a source on one UTC day: the row the daily cap is enforced on."""

    source = models.ForeignKey("leads.LeadSource", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    accepted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "day"], name="source_daily_count_unique")
        ]

    def __str__(self):
        return f"{self.source_id} {self.day}: {self.accepted}"


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", "Waiting for column mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class ImportRun(models.Model):
    """One CSV file of leads from a source, imported as an RQ job."""

    source = models.ForeignKey("leads.LeadSource", on_delete=models.PROTECT, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    column_mapping = models.JSONField(
        default=dict, blank=True, help_text="Lead field -> CSV column. Empty uses the header names."
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.MAPPING
    )
    columns = models.JSONField(default=list, blank=True, help_text="The file's header row.")
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    replays = models.PositiveIntegerField(
        default=0, help_text="Rows whose source lead id was already imported."
    )
    rejected = models.PositiveIntegerField(default=0)
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import #{self.pk} of {self.original_name or self.file.name}"

    @property
    def percent_done(self) -> int:
        if not self.rows_total:
            return 100 if self.status == ImportStatus.FINISHED else 0
        return min(100, round(100 * self.rows_done / self.rows_total))
