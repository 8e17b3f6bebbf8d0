# The follow-up engine and the feedback loop were built side by side on 0012; each part's
# migration stands alone, and this one joins them.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0013_cadences"),
        ("leads", "0013_voice"),
        ("leads", "0013_reports"),
        ("leads", "0013_outbound"),
    ]

    operations = []
