import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_asgi_application()

from crm.checks import secret_key_require  # noqa: E402

secret_key_require()
