"""Admin links never crash: a model without a table, and Redis away behind the RQ dashboard."""

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from tests.conftest import require_service

pytestmark = pytest.mark.django_db


def test_view_on_site_for_a_model_without_a_table_is_a_404(manager_client):
    dashboard = ContentType.objects.get(app_label="django_rq", model="dashboard")

    response = manager_client.get(f"/admin/r/{dashboard.pk}/1/")

    assert response.status_code == 404


def test_view_on_site_still_leads_to_a_page(admin_client, source):
    leads = ContentType.objects.get(app_label="leads", model="leadsource")

    response = admin_client.get(f"/admin/r/{leads.pk}/{source.pk}/")

    assert response.status_code in (302, 404)  # a source has no public page: never a 500


def test_the_rq_dashboard_with_redis_away_says_so(admin_client):
    require_service("Redis", bool(settings.REDIS_URL), "the RQ dashboard is served with Redis")
    from django.test import override_settings

    unreachable = {
        name: {**queue, "URL": "redis://127.0.0.1:1/0"}
        for name, queue in settings.RQ_QUEUES.items()
    }
    with override_settings(RQ_QUEUES=unreachable):
        response = admin_client.get("/admin/django_rq/dashboard/")

    assert response.status_code == 503
    assert "The job queue is unreachable" in response.content.decode()
    assert response["Retry-After"] == "30"
