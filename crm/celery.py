"""The Celery app: the fast lane after intake, the clock, and every send to the outside world."""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@beat_init.connect
def _secret_key_require(**kwargs) -> None:
    # A worker or the clock sends to the outside world: like the web, not without a key.
    # (SystemExit, since Celery logs and ignores a signal handler's exceptions.)
    from django.core.exceptions import ImproperlyConfigured

    from crm.checks import secret_key_require

    try:
        secret_key_require()
    except ImproperlyConfigured as missing:
        raise SystemExit(str(missing)) from None
