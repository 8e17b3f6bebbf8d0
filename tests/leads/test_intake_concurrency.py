"""Simultaneous deliveries on real PostgreSQL: no lead stored twice, no cap overrun."""

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from leads.models import Lead
from tests.conftest import require_service
from tests.factories import LeadSourceFactory
from tests.leads.test_api_intake import URL, lead_payload

pytestmark = pytest.mark.django_db(transaction=True)


def _post_together(source, payloads) -> list:
    """Post each payload from its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(payloads))
    answers = [None] * len(payloads)

    def deliver(index, payload):
        try:
            barrier.wait()
            answers[index] = Client().post(
                URL,
                json.dumps(payload),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=pair) for pair in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.fixture
def postgres():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")


@pytest.mark.parametrize("attempt", range(5))
def test_two_simultaneous_posts_of_one_lead_store_it_once(postgres, attempt):
    source = LeadSourceFactory()
    payload = lead_payload(source_lead_id=f"RACE-{attempt}")

    first, second = _post_together(source, [payload, payload])

    assert sorted([first.status_code, second.status_code]) == [200, 201]
    assert first.json()["id"] == second.json()["id"]
    assert Lead.objects.filter(source=source).count() == 1


def test_simultaneous_posts_do_not_overrun_the_daily_cap(postgres):
    source = LeadSourceFactory(daily_cap=3)
    payloads = [
        lead_payload(source_lead_id=f"CAP-{n}", phone=f"30555504{n:02d}", email="")
        for n in range(6)
    ]

    answers = _post_together(source, payloads)

    assert sorted(a.status_code for a in answers) == [201, 201, 201, 422, 422, 422]
    assert Lead.objects.filter(source=source).count() == 3


def test_the_intake_insert_is_planned_once_per_connection(postgres, client):
    """Planning the insert costs PostgreSQL more than running it: it must be prepared.

    Django turns psycopg's prepared statements off unless the settings turn them on.
    """
    source = LeadSourceFactory()
    for number in range(2):
        answer = client.post(
            URL,
            json.dumps(lead_payload(source_lead_id=f"PREPARED-{number}")),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
        )
        assert answer.status_code == 201

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ["WITH incoming AS%"],
        )
        assert len(cursor.fetchall()) == 1
