import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_wsgi_application()

from crm.checks import secret_key_require  # noqa: E402

secret_key_require()

# Load what every worker needs now, not on its first request: with gunicorn --preload the
# workers share one copy, and none answers its first leads a tenth of a second late. The
# URL patterns import the admin, the API and its schema; reversing one builds the reverse
# tables; one sample lead through validation loads the ZIP and area-code tables and the
# phone and email validators' data; the Celery app loads its transport (it connects later,
# in each worker).
from django.urls import get_resolver, reverse  # noqa: E402

from crm.celery import app as celery_app  # noqa: E402
from leads.intake.payload import payload_clean  # noqa: E402
from leads.models import LeadSource  # noqa: E402

get_resolver().url_patterns  # noqa: B018 (imports every view module)
reverse("api_lead_create")
payload_clean(
    raw={"source_lead_id": "warm-up", "phone": "+13055550142", "email": "a@example.com",
         "zip": "33130", "consent": {"captured_at": "2026-01-01T00:00:00Z", "channels": ["sms"]}},
    source=LeadSource(),
)  # fmt: skip
celery_app.amqp  # noqa: B018
celery_app.connection_for_write().transport  # noqa: B018

# Requests send their new leads to the fast lane with the next request's rate-limit count.
from leads.intake.handoff import hand_offs_defer  # noqa: E402

hand_offs_defer()

# What was loaded above lives as long as the process: leave it out of the cycle collector's
# full passes (and, with --preload, keep the workers' copies of it shared).
import gc  # noqa: E402

gc.freeze()
