# The clock's escalations read only leads with a step due: each lead keeps when its next
# step falls due, indexed, instead of every tick walking every lead past its SLA.
import datetime

from django.db import migrations, models
from django.db.models import Q

OPEN = ["new", "working", "contacted", "appointment"]


def next_steps_set(apps, schema_editor):
    Lead = apps.get_model("leads", "Lead")
    waiting = Lead.objects.filter(status__in=OPEN, sla_due_at__isnull=False, sla_stage__lt=3)
    for lead in waiting.select_related("source").iterator(chunk_size=1000):
        gap = datetime.timedelta(minutes=lead.source.sla_minutes)
        Lead.objects.filter(pk=lead.pk).update(sla_next_at=lead.sla_due_at + lead.sla_stage * gap)


class Migration(migrations.Migration):
    dependencies = [("leads", "0014_merge")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="sla_next_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When its next speed-to-lead escalation step is due; empty when none is.",
                null=True,
                verbose_name="next escalation",
            ),
        ),
        migrations.AddField(
            model_name="historicallead",
            name="sla_next_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When its next speed-to-lead escalation step is due; empty when none is.",
                null=True,
                verbose_name="next escalation",
            ),
        ),
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=Q(status__in=OPEN, sla_next_at__isnull=False),
                fields=["sla_next_at"],
                name="lead_sla_next_idx",
            ),
        ),
        migrations.RunPython(next_steps_set, migrations.RunPython.noop),
    ]
