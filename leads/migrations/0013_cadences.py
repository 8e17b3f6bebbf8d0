# The cadence engine (issue 13): held touches, enrollment end times, the default cadence.

from django.db import migrations, models


# The default "Speed to lead" cadence (issue 13): minutes after the lead arrived.
SPEED_TO_LEAD = "Speed to lead"
SPEED_TO_LEAD_STEPS = [
    (
        "sms",
        0,
        "",
        "Hi {{ lead.first_name|default:'there' }}, this is"
        "{% if rep.first_name %} {{ rep.first_name }} with{% endif %} {{ business.name }}."
        " Thanks for asking about {{ lead.product|default:'our services' }}!"
        " When is a good time to talk?",
    ),
    (
        "email",
        0,
        "Your {{ lead.product|default:'request' }} with {{ business.name }}",
        "Hi {{ lead.first_name|default:'there' }},\n\nThanks for reaching out to"
        " {{ business.name }}. {{ rep.full_name|default:'One of our team' }} will call you"
        " shortly{% if business.phone %}, or call us any time at {{ business.phone }}{% endif %}."
        "\n\n{{ rep.first_name|default:business.name }}",
    ),
    ("call_task", 0, "", "New lead: call within the first minutes."),
    ("bridge", 5, "", "Speed-to-lead call, 5 minutes after arrival."),
    (
        "email",
        60,
        "Still interested in {{ lead.product|default:'a quote' }}?",
        "Hi {{ lead.first_name|default:'there' }},\n\nWe tried to reach you about your"
        " {{ lead.product|default:'request' }}. Reply to this email or"
        "{% if business.phone %} call {{ business.phone }}{% else %} answer our call{% endif %}"
        " whenever suits you.\n\n{{ rep.first_name|default:business.name }}, {{ business.name }}",
    ),
    ("bridge", 24 * 60, "", "Day 1 call."),
    (
        "sms",
        2 * 24 * 60,
        "",
        "Hi {{ lead.first_name|default:'there' }}, {{ rep.first_name|default:business.name }}"
        " from {{ business.name }} again. Still looking for help with"
        " {{ lead.product|default:'your project' }}? Just reply here.",
    ),
    ("bridge", 4 * 24 * 60, "", "Day 4 call, the last of the cadence."),
]


def default_cadence_create(apps, schema_editor):
    Cadence = apps.get_model("leads", "Cadence")
    CadenceStep = apps.get_model("leads", "CadenceStep")
    if Cadence.objects.filter(name=SPEED_TO_LEAD).exists():
        return
    cadence = Cadence.objects.create(
        name=SPEED_TO_LEAD,
        description="A text, an email and a call task at once, then calls and messages "
        "over four days, until the lead is reached.",
        is_default=not Cadence.objects.filter(is_default=True).exists(),
    )
    # Its first history row, as if a manager had added it: the admin's history starts here.
    HistoricalCadence = apps.get_model("leads", "HistoricalCadence")
    HistoricalCadence.objects.create(
        id=cadence.id,
        name=cadence.name,
        description=cadence.description,
        is_active=cadence.is_active,
        is_default=cadence.is_default,
        products=cadence.products,
        created_at=cadence.created_at,
        updated_at=cadence.updated_at,
        history_date=cadence.created_at,
        history_type="+",
        history_change_reason="The default cadence, shipped with Leadline",
    )
    CadenceStep.objects.bulk_create(
        CadenceStep(
            cadence=cadence,
            position=position,
            channel=channel,
            delay_minutes=minutes,
            delay_from="intake",
            subject_template=subject,
            body_template=body,
        )
        for position, (channel, minutes, subject, body) in enumerate(SPEED_TO_LEAD_STEPS, start=1)
    )


def default_cadence_delete(apps, schema_editor):
    Cadence = apps.get_model("leads", "Cadence")
    cadence = Cadence.objects.filter(name=SPEED_TO_LEAD).first()
    if cadence is not None and not cadence.enrollments.exists():
        cadence.steps.all().delete()
        apps.get_model("leads", "HistoricalCadence").objects.filter(id=cadence.id).delete()
        cadence.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0012_engine_and_feedback'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='cadencestep',
            options={'ordering': ['position', 'id']},
        ),
        migrations.AddField(
            model_name='cadenceenrollment',
            name='ends_at',
            field=models.DateTimeField(blank=True, help_text='When its last step was planned; the clock finishes it once nothing is left to do after then.', null=True),
        ),
        migrations.AlterField(
            model_name='touch',
            name='status',
            field=models.CharField(choices=[('scheduled', 'Scheduled'), ('queued', 'Queued to send'), ('sending', 'Sending'), ('sent', 'Sent'), ('blocked', 'Blocked by compliance'), ('failed', 'Failed'), ('delivered', 'Delivered'), ('unknown', 'Interrupted: unknown whether sent'), ('done', 'Called'), ('skipped', 'Skipped (a cadence condition)'), ('cancelled', 'Cancelled'), ('held', 'Held (its cadence is paused)')], default='scheduled', max_length=10),
        ),
        migrations.AddIndex(
            model_name='cadenceenrollment',
            index=models.Index(condition=models.Q(('status', 'active')), fields=['ends_at'], name='enrollment_ends_idx'),
        ),
        migrations.RunPython(default_cadence_create, default_cadence_delete),
    ]
