from django.conf import settings
from django.db import models


class LeadNote(models.Model):
    """A rep's or manager's note on a lead; notes are kept, never edited."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="note_lead_idx")]

    def __str__(self):
        return f"Note on lead #{self.lead_id} by {self.author}"
