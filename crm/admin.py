"""django-rq's dashboard in Leadline's admin, with links to what is gone answering 404."""

from functools import wraps

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.urls import URLPattern
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard
from rq.exceptions import NoSuchJobError


def _not_found_when_gone(view):
    """A link to a job Redis no longer keeps, a worker that stopped, or the scheduler pages
    (rq-scheduler is not installed) is a 404, not a 500."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError as gone:
            raise Http404("This job is no longer in the queue.") from gone
        except AssertionError as gone:  # django-rq asserts the worker it was linked to exists
            raise Http404("This worker has stopped.") from gone
        except ImproperlyConfigured as missing:
            raise Http404(f"Not available: {missing}.") from missing

    return wrapper


class RQDashboardAdmin(QueueAdmin):
    def get_object(self, request, object_id, from_field=None):
        return None  # the dashboard is pages, not rows: its model has no table to read

    def get_urls(self):
        return [
            URLPattern(url.pattern, _not_found_when_gone(url.callback), url.default_args, url.name)
            if isinstance(url, URLPattern)
            else url
            for url in super().get_urls()
        ]


if admin.site.is_registered(Dashboard):  # with REDIS_URL (RQ_SHOW_ADMIN_LINK)
    admin.site.unregister(Dashboard)
    admin.site.register(Dashboard, RQDashboardAdmin)
