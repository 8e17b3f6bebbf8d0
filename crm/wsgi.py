import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_wsgi_application()

# Load what every worker needs now, not on its first request: with gunicorn --preload the
# workers share one copy. The URL patterns import the admin, the API and its schema; the
# ZIP and area-code tables serve intake.
from django.urls import get_resolver  # noqa: E402

from leads.normalize import place_tables  # noqa: E402

get_resolver().url_patterns  # noqa: B018 (imports every view module)
place_tables()
