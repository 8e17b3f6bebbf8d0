import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_wsgi_application()

# Load intake's ZIP and area-code tables now, not on the first lead; with gunicorn --preload
# the workers share one copy.
from leads.normalize import place_tables  # noqa: E402

place_tables()
