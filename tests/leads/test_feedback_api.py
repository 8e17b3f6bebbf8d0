"""The conversions and returns API, as the business's own systems use it."""

import datetime
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.feedback.tokens import api_token_create
from leads.models import (
    ApiToken,
    Conversion,
    DeliveryStatus,
    FeedbackEvent,
    LeadReturn,
    ReturnOrigin,
)
from tests.factories import LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db

CONVERSIONS = "/api/v1/conversions/"
RETURNS = "/api/v1/returns/"
LEAD = object()  # the test's lead id


@pytest.fixture
def token(manager):
    return api_token_create(user=manager, name="billing")[1]


def post(client, url, body, token=None, raw=None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Token {token}"
    data = raw if raw is not None else json.dumps(body)
    return client.post(url, data, content_type="application/json", **headers)


def test_create_api_token_prints_it_once_and_keeps_only_its_hash(manager, capsys):
    call_command("create_api_token", manager.username, "--name", "billing")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    stored = ApiToken.objects.get()
    assert key.startswith("llt_")
    assert stored.key_hash != key and key not in stored.key_hint + stored.name
    assert ApiToken.objects.by_token(key) == stored


def test_create_api_token_refuses_a_rep(rep):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an active manager"):
        call_command("create_api_token", rep.username)
    assert not ApiToken.objects.exists()


def test_a_sale_is_recorded_with_its_revenue_and_tells_the_source(client, token, source):
    source.shares_revenue = True
    source.feedback_webhook_url = "https://vendor.example.com/hooks"
    source.save()
    lead = LeadFactory(source=source)

    response = post(
        client, CONVERSIONS, {"lead": lead.pk, "kind": "sale", "revenue": "1200.00"}, token
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "sale" and body["revenue"] == "1200.00" and body["lead"] == lead.pk
    conversion = Conversion.objects.get(pk=body["id"])
    assert conversion.revenue == Decimal("1200.00") and conversion.origin == "api"
    assert conversion.recorded_by.username == "boss"
    event = FeedbackEvent.objects.get(conversion=conversion)
    assert event.type == "lead.sold" and event.status == DeliveryStatus.PENDING
    assert event.payload["revenue"] == "1200.00" and event.payload["id"] == event.pk
    lead.refresh_from_db()
    assert lead.status == "won"


def test_a_conversion_by_the_sources_own_lead_id(client, token, source):
    lead = LeadFactory(source=source, source_lead_id="SP-77")
    at = (timezone.now() - datetime.timedelta(minutes=1)).replace(microsecond=0)
    lead.received_at = at - datetime.timedelta(hours=1)
    lead.save()

    response = post(
        client,
        CONVERSIONS,
        {
            "source": source.slug,
            "source_lead_id": "SP-77",
            "kind": "appointment",
            "at": at.isoformat(),
        },
        token,
    )

    assert response.status_code == 201, response.content
    conversion = Conversion.objects.get()
    assert conversion.lead == lead and conversion.occurred_at == at
    # No webhook and no revenue shared: the event is for exports only, without revenue.
    event = FeedbackEvent.objects.get()
    assert event.status == DeliveryStatus.NOT_SENT and event.type == "lead.appointment"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sale", "revenue": "10.00"}, "lead"),
        ({"lead": 999999, "kind": "sale", "revenue": "10.00"}, "lead"),
        ({"lead": 10**40, "kind": "sale", "revenue": "10.00"}, "lead"),
        ({"lead": True, "kind": "sale", "revenue": "10.00"}, "lead"),
        ({"source": "nope", "source_lead_id": "x", "kind": "sale", "revenue": "1"}, "lead"),
        ({"source": "a\x00b", "source_lead_id": "x", "kind": "sale", "revenue": "1"}, "source"),
        ({"lead": LEAD, "kind": "sale", "revenue": "ten"}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": "1e400"}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": "NaN"}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": "-5"}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": "1.005"}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": True}, "revenue"),
        ({"lead": LEAD, "kind": "sale", "revenue": {"x": 1}}, "revenue"),
        ({"lead": LEAD, "kind": "sale"}, "revenue"),
        ({"lead": LEAD, "kind": "contacted", "revenue": "5.00"}, "revenue"),
        ({"lead": LEAD, "kind": "won\ud800"}, "kind"),
        ({"lead": LEAD, "kind": ["sale"]}, "kind"),
        ({"lead": LEAD, "kind": "contacted", "at": "yesterday"}, "at"),
        ({"lead": LEAD, "kind": "contacted", "at": "2026-11-22T14:03:00"}, "at"),
        ({"lead": LEAD, "kind": "contacted", "at": "2999-01-01T00:00:00Z"}, "at"),
        ({"lead": LEAD, "kind": "contacted", "at": "9" * 10_000}, "at"),
    ],
)
def test_bad_conversions_are_422_naming_the_field(client, token, source, body, field):
    lead = LeadFactory(source=source)
    body = {name: lead.pk if value is LEAD else value for name, value in body.items()}

    response = post(client, CONVERSIONS, body, token)

    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    assert not Conversion.objects.exists() and not FeedbackEvent.objects.exists()


def test_hostile_bodies_are_answered_not_crashed(client, token):
    deep = "[" * 100_000 + "]" * 100_000
    assert post(client, CONVERSIONS, None, token, raw=deep).status_code in (400, 413)
    assert post(client, CONVERSIONS, None, token, raw="{").status_code == 400
    assert post(client, CONVERSIONS, None, token, raw="[1]").status_code == 422
    huge = json.dumps({"kind": "x" * 20_000})
    assert post(client, CONVERSIONS, None, token, raw=huge).status_code == 413


def test_without_a_token_401_and_a_bad_token_401(client, source):
    lead = LeadFactory(source=source)
    body = {"lead": lead.pk, "kind": "contacted"}
    assert post(client, CONVERSIONS, body).status_code == 401
    assert post(client, CONVERSIONS, body, "llt_forged").status_code == 401
    assert post(client, RETURNS, {"lead": lead.pk, "reason": "fraud"}, "nope").status_code == 401


def test_a_revoked_token_is_401(client, manager, source):
    stored, key = api_token_create(user=manager)
    stored.revoked_at = timezone.now()
    stored.save()
    lead = LeadFactory(source=source)
    assert post(client, CONVERSIONS, {"lead": lead.pk, "kind": "contacted"}, key).status_code == 401


def test_a_reps_session_and_a_sources_key_are_403(client, rep, manager, source):
    lead = LeadFactory(source=source)
    body = {"lead": lead.pk, "kind": "contacted"}
    for url in (CONVERSIONS, RETURNS):
        key = {"HTTP_AUTHORIZATION": f"Bearer {source.api_key}"}
        assert post(client, url, body, **key).status_code == 403
        client.force_login(rep)
        assert post(client, url, body).status_code == 403
        client.force_login(manager)  # a person, not the business's systems
        assert post(client, url, body).status_code == 403
        client.logout()
    assert not Conversion.objects.exists()


def test_a_token_of_someone_no_longer_a_manager_is_403(client, manager, source):
    key = api_token_create(user=manager)[1]
    manager.groups.clear()
    lead = LeadFactory(source=source)
    assert post(client, CONVERSIONS, {"lead": lead.pk, "kind": "contacted"}, key).status_code == 403


def test_a_return_through_the_api(client, token, source):
    lead = LeadFactory(source=source, cost=Decimal("31.50"))

    response = post(
        client, RETURNS, {"lead": lead.pk, "reason": "bad_number", "note": "Dead"}, token
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "requested" and body["credit"] == "31.50"
    lead_return = LeadReturn.objects.get()
    assert lead_return.origin == ReturnOrigin.API and lead_return.note == "Dead"
    assert FeedbackEvent.objects.get().type == "lead.returned"


def test_a_refused_return_says_which_rule(client, token):
    source = LeadSourceFactory(allowed_return_reasons=["bad_number"], return_window_days=3)
    old = LeadFactory(source=source, received_at=timezone.now() - datetime.timedelta(days=4))
    fresh = LeadFactory(source=source)

    window = post(client, RETURNS, {"lead": old.pk, "reason": "bad_number"}, token)
    reason = post(client, RETURNS, {"lead": fresh.pk, "reason": "fraud"}, token)
    unknown = post(client, RETURNS, {"lead": fresh.pk, "reason": "meh"}, token)
    note = post(
        client, RETURNS, {"lead": fresh.pk, "reason": "bad_number", "note": "x" * 2001}, token
    )
    first = post(client, RETURNS, {"lead": fresh.pk, "reason": "bad_number"}, token)
    again = post(client, RETURNS, {"lead": fresh.pk, "reason": "bad_number"}, token)

    assert window.status_code == 422 and window.json()["reasons"] == ["outside_window"]
    assert "lead" in window.json()["errors"]
    assert reason.status_code == 422 and reason.json()["reasons"] == ["reason_not_allowed"]
    assert "reason" in reason.json()["errors"]
    assert unknown.status_code == 422 and "reason" in unknown.json()["errors"]
    assert note.status_code == 422 and "note" in note.json()["errors"]
    assert first.status_code == 201
    assert again.status_code == 422 and again.json()["reasons"] == ["already_returned"]
    assert LeadReturn.objects.count() == 1


def test_the_last_use_of_a_token_is_noted(client, manager, source):
    stored, key = api_token_create(user=manager)
    lead = LeadFactory(source=source)
    post(client, CONVERSIONS, {"lead": lead.pk, "kind": "contacted"}, key)
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_the_schema_documents_both_endpoints(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/conversions/" in schema["paths"] and "/api/v1/returns/" in schema["paths"]
    assert "ApiToken" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lead": LEAD, "reason": "fraud", "note": "bad\x00note"}, "note"),
        ({"lead": LEAD, "reason": "fraud", "note": "\ud800"}, "note"),
        ({"lead": LEAD, "reason": "fraud", "note": ["x"]}, "note"),
        ({"lead": LEAD, "reason": 7}, "reason"),
        ({"lead": LEAD, "reason": None}, "reason"),
        ({"lead": "12abc", "reason": "fraud"}, "lead"),
        ({"lead": -1, "reason": "fraud"}, "lead"),
        ({"lead": 1.5, "reason": "fraud"}, "lead"),
        ({"source": ["x"], "source_lead_id": "L", "reason": "fraud"}, "source"),
        ({"source": "sunpath", "source_lead_id": "x" * 101, "reason": "fraud"}, "source_lead_id"),
    ],
)
def test_bad_returns_are_422_naming_the_field(client, token, source, body, field):
    lead = LeadFactory(source=source)
    body = {name: lead.pk if value is LEAD else value for name, value in body.items()}

    response = post(client, RETURNS, body, token)

    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    assert not LeadReturn.objects.exists() and not FeedbackEvent.objects.exists()


def test_a_return_by_the_sources_own_lead_id(client, token, source):
    lead = LeadFactory(source=source, source_lead_id="SP-9")
    body = {"source": "sunpath", "source_lead_id": "SP-9", "reason": "duplicate"}
    response = post(client, RETURNS, body, token)
    assert response.status_code == 201 and response.json()["lead"] == lead.pk
