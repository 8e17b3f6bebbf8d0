"""Leadline's admin site: Django's, with its names, and a "view on site" link that cannot crash."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db import DatabaseError
from django.http import Http404
from django.urls import path


class LeadlineAdminSite(admin.AdminSite):
    site_header = "Leadline"
    site_title = "Leadline admin"
    index_title = "Sources, leads, reps and compliance"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_views: list[tuple[str, object, str]] = []

    def register_view(self, route: str, view, name: str) -> None:
        """Serve a page of an app's own under the admin (staff only, as every admin page)."""
        self.extra_views.append((route, view, name))

    def get_urls(self):
        # Django's shortcut looks the object up in its model's table; some models (django-rq's
        # dashboard) have none, and the query's error was a 500. It is a link to nothing: 404.
        return [
            path(
                "r/<int:content_type_id>/<path:object_id>/",
                self.admin_view(shortcut),
                name="view_on_site",
            ),
            *(
                path(route, self.admin_view(view), name=name)
                for route, view, name in self.extra_views
            ),
            *super().get_urls(),
        ]


def shortcut(request, content_type_id, object_id):
    from django.contrib.contenttypes import views as contenttype_views  # needs the models

    try:
        return contenttype_views.shortcut(request, content_type_id, object_id)
    except DatabaseError:
        raise Http404("This kind of record has no page.") from None


class LeadlineAdminConfig(AdminConfig):
    default_site = "crm.admin_site.LeadlineAdminSite"
