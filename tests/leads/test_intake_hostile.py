"""Hostile and careless input to intake: a clear 4xx naming the field, never a 500, and a batch
keeps its good leads."""

import json

import pytest

from leads.models import Lead
from tests.leads.test_api_intake import BATCH_URL, URL, lead_payload, post

pytestmark = pytest.mark.django_db

NUL = "Dana\x00"
LONE_SURROGATE = "Dana\ud800"  # json.dumps writes it as the escape "\ud800"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _with(payload: dict, path: str, value) -> dict:
    """Return the payload with `value` at a dotted path such as consent.sellers."""
    target = payload
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    target[last] = value
    return payload


TEXT_FIELDS = [
    "source_lead_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "zip",
    "product",
    "consent.user_agent",
    "consent.page_url",
    "consent.disclosure_text",
    "consent.ip",
    "consent.jornaya_leadid",
]
LIST_FIELDS = ["consent.sellers", "consent.channels"]


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("field", TEXT_FIELDS + LIST_FIELDS + ["extra"])
def test_unstorable_text_in_any_field_is_a_422_naming_it(client, source, field, bad):
    if field in LIST_FIELDS:
        value = [bad]
    elif field == "extra":
        value = {"utm": bad}
    else:
        value = bad
    payload = _with(lead_payload(), field, value)

    response = post(client, source, payload)

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["reasons"] == ["invalid"]
    assert field in body["errors"], body
    assert not Lead.objects.exists()


@pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "lone-surrogate"])
def test_unstorable_text_in_an_extra_key_is_refused(client, source, bad):
    response = post(client, source, lead_payload(extra={bad: "x"}))

    assert response.status_code == 422
    assert "extra" in response.json()["errors"]


def test_a_batch_rejects_only_its_unstorable_lead(client, source):
    leads = [
        lead_payload(source_lead_id="SP-1"),
        lead_payload(source_lead_id="SP-2\x00", phone="(305) 555-0150", email=""),
        lead_payload(source_lead_id="SP-3", first_name=LONE_SURROGATE, phone="(305) 555-0151"),
        lead_payload(source_lead_id="SP-4", phone="(305) 555-0152", email="d4@example.com"),
    ]

    response = post(client, source, {"leads": leads}, url=BATCH_URL)

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["http_status"] for r in results] == [201, 422, 422, 201]
    assert "source_lead_id" in results[1]["errors"]
    assert "first_name" in results[2]["errors"]
    assert set(Lead.objects.values_list("source_lead_id", flat=True)) == {"SP-1", "SP-4"}


def _nested(depth: int):
    value = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [6, 50, 400])
def test_deeply_nested_extra_is_refused(client, source, depth):
    response = post(client, source, lead_payload(extra=_nested(depth)))

    assert response.status_code == 422, response.content
    assert "nested at most 5 levels" in response.json()["errors"]["extra"][0]
    assert not Lead.objects.exists()


def test_extra_nested_within_the_limit_is_kept(client, source):
    response = post(client, source, lead_payload(extra=_nested(4)))

    assert response.status_code == 201
    assert Lead.objects.get().extra == _nested(4)


def test_extra_with_too_many_keys_is_refused(client, source):
    response = post(client, source, lead_payload(extra={f"k{n}": n for n in range(201)}))

    assert response.status_code == 422
    assert "at most 200 keys" in response.json()["errors"]["extra"][0]


def test_json_nested_past_the_parser_is_a_400_naming_the_body(client, source):
    body = '{"extra": ' + "[" * 5_000 + "]" * 5_000 + "}"

    response = client.post(
        URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {source.api_key}"
    )

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_a_form_post_with_nul_is_a_422(client, source):
    response = client.post(
        URL,
        {"source_lead_id": "SP-9", "phone": "(305) 555-0142", "first_name": "Da\x00na"},
        HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
    )

    assert response.status_code == 422
    assert "first_name" in response.json()["errors"]


@pytest.mark.parametrize(
    "body", [{"leads": "nope"}, {"leads": [{}] * 1001}], ids=["not-a-list", "too-many"]
)
def test_a_batch_level_422_carries_reasons_as_its_schema_says(client, source, body):
    response = post(client, source, body, url=BATCH_URL)

    assert response.status_code == 422
    assert response.json()["reasons"] == ["invalid"]
    assert "leads" in response.json()["errors"]


def test_with_redis_away_a_business_may_choose_to_refuse_with_503(client, source, settings):
    settings.REDIS_URL = UNREACHABLE_REDIS
    settings.INTAKE_WITHOUT_REDIS = "refuse"

    response = post(client, source, lead_payload())

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    assert "nothing was stored" in json.loads(response.content)["detail"]
    assert not Lead.objects.exists()


def test_with_redis_away_intake_stores_the_lead_by_default(client, source, settings):
    settings.REDIS_URL = UNREACHABLE_REDIS

    response = post(client, source, lead_payload())

    assert response.status_code == 201
    assert Lead.objects.filter(pk=response.json()["id"]).exists()
