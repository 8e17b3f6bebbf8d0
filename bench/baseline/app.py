"""The baseline for bench/intake.py: Leadline's own settings and middleware, served by the same
gunicorn, with one bare view that parses the same JSON, validates the phone and inserts one
row. The difference to Leadline is the cost of intake itself: auth, rate limit, validation,
dedup, consent and the hand-off after commit. Both go through the same middleware."""

import json

import phonenumbers
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from crm.settings import *  # noqa: F403 (the same settings, another urlconf)

ROOT_URLCONF = "bench.baseline.app"

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_baseline_lead (
    id bigserial PRIMARY KEY,
    source_lead_id varchar(100) NOT NULL,
    phone varchar(16) NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


@csrf_exempt
def lead_create(request):
    payload = json.loads(request.body)
    number = phonenumbers.parse(payload["phone"], "US")
    if not phonenumbers.is_valid_number(number):
        return JsonResponse({"status": "rejected"}, status=422)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline_lead (source_lead_id, phone, body) "
            "VALUES (%s, %s, %s) RETURNING id",
            [payload["source_lead_id"], e164, json.dumps(payload)],
        )
        lead_id = cursor.fetchone()[0]
    return JsonResponse({"id": lead_id, "status": "accepted"}, status=201)


urlpatterns = [path("api/v1/leads/", lead_create)]
