"""What a lead cost: a fixed price per lead, or the price a variable-priced source sends."""

import json
from decimal import Decimal

import pytest

from leads.models import Lead, Pricing
from tests.factories import LeadSourceFactory

pytestmark = pytest.mark.django_db

URL, BATCH_URL = "/api/v1/leads/", "/api/v1/leads/batch/"


def lead(n: int, **fields) -> dict:
    return {"source_lead_id": f"P-{n}", "phone": f"(305) 555-{n:04d}", "zip": "33130", **fields}


def post(client, source, body, url=URL):
    return client.post(
        url,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
    )


@pytest.fixture
def variable(db):
    return LeadSourceFactory(
        pricing=Pricing.VARIABLE, price_floor=Decimal("5.00"), price_ceiling=Decimal("80.00")
    )


def test_a_variable_priced_lead_costs_its_price_and_keeps_its_campaign(client, variable):
    response = post(client, variable, lead(1, price="42.50", campaign="fall-solar/sub 7"))

    assert response.status_code == 201, response.content
    stored = Lead.objects.get()
    assert stored.cost == Decimal("42.50") and stored.campaign == "fall-solar/sub 7"


def test_a_price_as_a_json_number_is_exact(client, variable):
    assert post(client, variable, lead(1, price=19.99)).status_code == 201
    assert Lead.objects.get().cost == Decimal("19.99")


@pytest.mark.parametrize(
    ("price", "says"),
    [
        ("4.99", "floor"),
        ("80.01", "ceiling"),
        ("12.345", "2 decimals"),
        ("-1", "at least 0.00"),
        ("cheap", "amount"),
        ("NaN", "amount"),
        ("1e400", "at least 0.00"),
        (True, "amount"),
        ({"amount": 5}, "amount"),
        ("9" * 100, "amount"),
        ("1\x00", "amount"),
    ],
)
def test_a_bad_price_is_422_naming_price(client, variable, price, says):
    response = post(client, variable, lead(1, price=price))

    assert response.status_code == 422
    assert says in " ".join(response.json()["errors"]["price"])
    assert not Lead.objects.exists()


def test_a_variable_priced_lead_without_its_price_is_refused(client, variable):
    response = post(client, variable, lead(1))
    assert response.status_code == 422 and "required" in response.json()["errors"]["price"][0]


def test_a_fixed_price_source_may_not_send_a_price(client, source):
    refused = post(client, source, lead(1, price="10.00"))
    stored = post(client, source, lead(2))

    assert refused.status_code == 422 and "fixed price" in refused.json()["errors"]["price"][0]
    assert stored.status_code == 201
    assert Lead.objects.get().cost == source.price_per_lead == Decimal("25.00")


def test_a_batch_stores_each_lead_at_its_own_price_and_refuses_the_bad_one(client, variable):
    body = {"leads": [lead(1, price="10.00"), lead(2, price="500"), lead(3, price="79.99")]}

    response = post(client, variable, body, BATCH_URL)

    assert response.status_code == 200
    statuses = [result["http_status"] for result in response.json()["results"]]
    assert statuses == [201, 422, 201]
    assert "price" in response.json()["results"][1]["errors"]
    costs = dict(Lead.objects.values_list("source_lead_id", "cost"))
    assert costs == {"P-1": Decimal("10.00"), "P-3": Decimal("79.99")}


def test_a_campaign_longer_than_100_characters_is_refused(client, source):
    response = post(client, source, lead(1, campaign="c" * 101))
    assert response.status_code == 422 and "campaign" in response.json()["errors"]
