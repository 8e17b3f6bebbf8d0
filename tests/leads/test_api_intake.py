import copy
import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from compliance.models import ConsentRecord
from leads.models import Lead
from tests.factories import LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
CAPTURED_AT = (timezone.now() - datetime.timedelta(minutes=3)).replace(microsecond=0)
BATCH_URL = "/api/v1/leads/batch/"


def lead_payload(**overrides):
    payload = {
        "source_lead_id": "SP-1",
        "first_name": "Dana",
        "last_name": "Whitfield",
        "phone": "(305) 555-0142",
        "email": "Dana.Whitfield@Example.com",
        "street": "6496 Lakeview Dr",
        "city": "Miami",
        "state": "FL",
        "zip": "33130",
        "product": "solar",
        "extra": {"utm_source": "google"},
        "consent": {
            "captured_at": CAPTURED_AT.isoformat(),
            "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://quotes.example.com/solar",
            "disclosure_text": "I agree that Brightside Home Services may call and text me.",
            "sellers": ["Brightside Home Services"],
            "channels": ["call", "sms"],
            "trustedform_cert_url": "https://cert.trustedform.com/2a7c1b5e9f0d4c3a8b6e1f2d",
            "jornaya_leadid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
        },
    }
    payload.update(overrides)
    return payload


def post(client, source, payload, url=URL, **headers):
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {source.api_key}")
    return client.post(url, json.dumps(payload), content_type="application/json", **headers)


def test_a_lead_is_accepted_with_its_consent(client, source):
    response = post(client, source, lead_payload())

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "accepted"
    lead = Lead.objects.get(pk=body["id"])
    assert lead.source == source
    assert str(lead.phone) == "+13055550142"
    assert lead.email == "dana.whitfield@example.com"
    assert lead.time_zone == "America/New_York"
    assert lead.cost == source.price_per_lead
    assert lead.extra == {"utm_source": "google"}
    consent = ConsentRecord.objects.get(lead=lead)
    assert consent.channels == ["call", "sms"]
    assert consent.seller_names == ["Brightside Home Services"]
    assert consent.disclosure_text.startswith("I agree that Brightside")
    assert consent.captured_at == CAPTURED_AT
    assert consent.ip_address == "198.51.100.7"
    assert consent.capture_method == "api"


def test_x_api_key_header_also_works(client, source):
    response = client.post(
        URL,
        json.dumps(lead_payload()),
        content_type="application/json",
        HTTP_X_API_KEY=source.api_key,
    )

    assert response.status_code == 201


def test_form_posts_use_flat_names(client, source):
    response = client.post(
        URL,
        {
            "source_lead_id": "F-1",
            "phone": "305.555.0150",
            "zip": "33130",
            "consent_captured_at": "2026-01-05T09:03:00-05:00",
            "consent_disclosure_text": "I agree.",
            "consent_channels": ["call", "sms"],
            "consent_sellers": "Brightside Home Services, Sunny Co",
            "extra_campaign": "spring",
        },
        HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
    )

    assert response.status_code == 201, response.json()
    lead = Lead.objects.get(pk=response.json()["id"])
    consent = lead.consents.get()
    assert consent.channels == ["call", "sms"]
    assert consent.seller_names == ["Brightside Home Services", "Sunny Co"]
    assert lead.extra == {"campaign": "spring"}
    assert lead.state == "FL"  # from the ZIP


def test_a_replay_answers_the_same_and_stores_nothing(client, source):
    first = post(client, source, lead_payload())
    again = post(client, source, lead_payload(first_name="Changed"))

    assert again.status_code == 200
    assert again.json() == first.json()
    assert Lead.objects.count() == 1
    assert ConsentRecord.objects.count() == 1
    assert Lead.objects.get().first_name == "Dana"


def test_a_replay_that_would_now_be_rejected_still_answers_as_the_replay(client, source):
    first = post(client, source, lead_payload())

    replay = post(client, source, lead_payload(phone="not a phone"))

    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert Lead.objects.count() == 1


def test_same_phone_from_another_source_is_a_duplicate(client, source, other_source):
    original = post(client, source, lead_payload()).json()

    response = post(client, other_source, lead_payload(source_lead_id="HQ-9", email=""))

    assert response.status_code == 201
    assert response.json()["status"] == "duplicate"
    assert response.json()["id"] != original["id"]
    assert Lead.objects.get(pk=response.json()["id"]).duplicate_of_id == original["id"]


def test_same_email_is_a_duplicate_too(client, source):
    post(client, source, lead_payload())

    response = post(client, source, lead_payload(source_lead_id="SP-2", phone="3055550199"))

    assert response.json()["status"] == "duplicate"


def test_a_repeat_outside_the_window_is_a_new_lead(client, source, settings):
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 30
    LeadFactory(
        source=source,
        phone="+13055550142",
        received_at=timezone.now() - datetime.timedelta(days=31),
    )

    response = post(client, source, lead_payload(email=""))

    assert response.json()["status"] == "accepted"


def test_a_batch_repeating_a_phone_marks_the_later_lead(client, source):
    response = post(
        client,
        source,
        {"leads": [lead_payload(source_lead_id="A"), lead_payload(source_lead_id="B")]},
        url=BATCH_URL,
    )

    first, second = response.json()["results"]
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    assert Lead.objects.get(pk=second["id"]).duplicate_of_id == first["id"]


BAD_FIELDS = [
    ({"source_lead_id": ""}, "source_lead_id", "Is required."),
    ({"source_lead_id": "x" * 101}, "source_lead_id", "at most 100 characters"),
    ({"source_lead_id": {"id": 1}}, "source_lead_id", "Must be text."),
    ({"phone": ""}, "phone", "Is required."),
    ({"phone": "555-0142"}, "phone", "not a valid US phone number"),
    ({"phone": "+44 20 7946 0958"}, "phone", "not a US phone number"),
    ({"phone": "call me maybe"}, "phone", "not a valid US phone number"),
    ({"email": "dana@"}, "email", "not a valid email address"),
    ({"email": "dana at example.com"}, "email", "not a valid email address"),
    ({"state": "Floridaa"}, "state", "not a US state"),
    ({"state": "TX"}, "state", "does not match ZIP 33130"),
    ({"zip": "3313"}, "zip", "not a ZIP code"),
    ({"zip": "00000"}, "zip", "not a US ZIP code"),
    ({"first_name": "x" * 101}, "first_name", "at most 100 characters"),
    ({"first_name": "Da\x00na"}, "first_name", "NUL"),
    ({"exclusive": "sometimes"}, "exclusive", "true or false"),
    ({"extra": ["a"]}, "extra", "Must be an object."),
    ({"extra": {"blob": "x" * 20000}}, "extra", "at most 16,384 bytes"),
    ({"extra": {"bad": "a\x00b"}}, "extra", "NUL"),
    ({"consent": "yes"}, "consent", "Must be an object."),
]
BAD_CONSENT = [
    ({"captured_at": "yesterday"}, "consent.captured_at", "ISO 8601"),
    ({"captured_at": "2026-11-22T14:03:00"}, "consent.captured_at", "UTC offset"),
    ({"captured_at": "2999-01-01T00:00:00Z"}, "consent.captured_at", "in the future"),
    ({"ip": "999.1.1.1"}, "consent.ip", "not an IP address"),
    ({"page_url": "quotes dot com"}, "consent.page_url", "not a valid http(s) URL"),
    ({"channels": ["call", "fax"]}, "consent.channels", "Unknown channels fax"),
    ({"channels": "call"}, None, None),
    ({"sellers": [1, 2]}, "consent.sellers", "list of text"),
    ({"trustedform_cert_url": "https://evil.example.com/x"}, "consent.trustedform_cert_url",
     "cert.trustedform.com"),
    ({"jornaya_leadid": "abc"}, "consent.jornaya_leadid", "36-character"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "message"), BAD_FIELDS)
def test_each_bad_field_is_named(client, source, change, field, message):
    response = post(client, source, lead_payload(**change))

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "rejected"
    assert message in " ".join(body["errors"][field])
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(("change", "field", "message"), BAD_CONSENT)
def test_each_bad_consent_field_is_named(client, source, change, field, message):
    payload = lead_payload()
    payload["consent"].update(change)

    response = post(client, source, payload)

    if field is None:  # a single channel as text is accepted
        assert response.status_code == 201
        return
    assert response.status_code == 422
    assert message in " ".join(response.json()["errors"][field])
    assert ConsentRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("extra", "status"),
    [("100000000000000000000000000000", 201), ("1e400", 422), ("-1e400", 422)],
    ids=["a 100-bit integer is kept", "infinity", "minus infinity"],
)
def test_numbers_in_extra_are_stored_or_refused_never_a_server_error(client, source, extra, status):
    body = json.dumps(lead_payload(extra={"n": 0})).replace('{"n": 0}', f'{{"n": {extra}}}')

    response = client.post(
        URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {source.api_key}"
    )

    assert response.status_code == status
    if status == 201:
        assert Lead.objects.get().extra == {"n": int(extra)}
    else:
        assert response.json()["errors"]["extra"] == ["Numbers must be finite."]


def test_every_problem_is_reported_at_once(client, source):
    payload = lead_payload(phone="nope", email="bad@", zip="1")
    payload["consent"]["ip"] = "nope"

    response = post(client, source, payload)

    assert set(response.json()["errors"]) == {"phone", "email", "zip", "consent.ip"}


@pytest.mark.parametrize(
    ("source_fields", "change", "reason", "field"),
    [
        ({"accepted_states": ["TX"]}, {}, "out_of_area", "state"),
        ({"accepted_products": ["medicare"]}, {}, "product_not_accepted", "product"),
        ({"require_consent": True}, {"consent": None}, "consent_required", "consent"),
        (
            {"require_consent": True},
            {"consent": {"channels": ["call"]}},
            "consent_required",
            "consent",
        ),
    ],
)
def test_source_filters_reject_with_a_reason(client, source_fields, change, reason, field):
    source = LeadSourceFactory(**source_fields)
    payload = {k: v for k, v in lead_payload(**change).items() if v is not None}

    response = post(client, source, payload)

    assert response.status_code == 422
    assert response.json()["reasons"] == [reason]
    assert response.json()["errors"][field][0].startswith(reason)


def test_daily_cap_rejects_the_lead_over_it(client):
    source = LeadSourceFactory(daily_cap=2)
    answers = [
        post(client, source, lead_payload(source_lead_id=f"C-{n}", phone=f"30555501{n}0"))
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 422]
    assert answers[2].json()["reasons"] == ["over_daily_cap"]
    assert Lead.objects.filter(source=source).count() == 2


def test_daily_cap_applies_within_a_batch(client):
    source = LeadSourceFactory(daily_cap=2)
    leads = [lead_payload(source_lead_id=f"C-{n}", phone=f"30555501{n}0") for n in range(3)]

    body = post(client, source, {"leads": leads}, url=BATCH_URL).json()

    assert [r["http_status"] for r in body["results"]] == [201, 201, 422]
    assert body["results"][2]["reasons"] == ["over_daily_cap"]


def test_missing_key_is_401(client):
    response = client.post(URL, json.dumps(lead_payload()), content_type="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_401(client, source):
    response = post(client, source, lead_payload(), HTTP_AUTHORIZATION="Bearer lls_not-a-key")

    assert response.status_code == 401
    assert Lead.objects.count() == 0


def test_a_rotated_key_is_refused(client, source):
    from leads.sources import source_key_rotate

    old_key = source.api_key
    assert post(client, source, lead_payload()).status_code == 201  # the key is now cached
    source_key_rotate(source=source)

    response = post(client, source, lead_payload(), HTTP_AUTHORIZATION=f"Bearer {old_key}")

    assert response.status_code == 401


def test_paused_source_is_403(client, source):
    assert post(client, source, lead_payload(source_lead_id="before")).status_code == 201
    source.is_active = False
    source.save()

    response = post(client, source, lead_payload())

    assert response.status_code == 403
    assert "paused" in response.json()["detail"]
    assert not Lead.objects.filter(source_lead_id="SP-1").exists()


def test_a_host_not_served_is_refused_before_anything_is_stored(client, source):
    response = post(client, source, lead_payload(), HTTP_HOST="leads.attacker.example")

    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_json_and_form_deliveries_answer_with_the_same_headers(client, source):
    """A JSON post is answered ahead of the browser middleware, a form post by the DRF view."""
    as_json = post(client, source, lead_payload(source_lead_id="as-json"))
    as_form = client.post(
        URL,
        {"source_lead_id": "as-form", "phone": "(305) 555-0199", "zip": "33130"},
        HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
    )

    assert (as_json.status_code, as_form.status_code) == (201, 201)
    assert as_json["Content-Type"] == as_form["Content-Type"] == "application/json"
    assert set(as_json.headers) == set(as_form.headers)
    for header in set(as_form.headers) - {"Content-Length"}:
        assert as_json[header] == as_form[header], header
    assert int(as_json["Content-Length"]) == len(as_json.content)
    assert as_json.json().keys() == as_form.json().keys()


def test_too_large_body_is_413(client, source):
    response = post(client, source, lead_payload(extra={"blob": "x" * 70_000}))

    assert response.status_code == 413


def test_rate_limit_is_429_with_retry_after(client):
    source = LeadSourceFactory(rate_limit_per_minute=2)
    answers = [
        post(client, source, lead_payload(source_lead_id=f"R-{n}", phone=f"30555502{n}0"))
        for n in range(3)
    ]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[" * 5000 + "]" * 5000, "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ("null", "application/json", 422),
        ("<lead/>", "application/xml", 415),
    ],
)
def test_unreadable_bodies_get_a_clear_answer(client, source, body, content_type, status):
    response = client.post(
        URL, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {source.api_key}"
    )

    assert response.status_code == status
    assert response.json()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from([*lead_payload().keys(), "consent_ip", "extra_x", "junk"])


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(field_names, json_values, max_size=5))
def test_no_input_causes_a_server_error(client, source, changes):
    payload = copy.deepcopy(lead_payload())
    payload.update(changes)

    response = post(client, source, payload)

    assert response.status_code in (200, 201, 422)


def test_batch_answers_each_lead_in_order(client, source):
    post(client, source, lead_payload(source_lead_id="OLD"))
    leads = [
        lead_payload(source_lead_id="B-1", phone="3055550301", email=""),
        lead_payload(source_lead_id="B-2", phone="not a phone", email=""),
        lead_payload(source_lead_id="OLD"),
        lead_payload(source_lead_id="B-1", phone="3055550301", email=""),
        "not an object",
    ]

    response = post(client, source, {"leads": leads}, url=BATCH_URL)

    assert response.status_code == 200
    body = response.json()
    assert [r["http_status"] for r in body["results"]] == [201, 422, 200, 200, 422]
    assert body["results"][0]["id"] == body["results"][3]["id"]
    assert "phone" in body["results"][1]["errors"]
    assert (body["accepted"], body["replays"], body["rejected"]) == (1, 2, 2)
    assert Lead.objects.filter(source=source).count() == 2


def test_batch_over_1000_leads_is_refused(client, source):
    leads = [{"source_lead_id": str(n), "phone": "3055550100"} for n in range(1001)]

    response = post(client, source, {"leads": leads}, url=BATCH_URL)

    assert response.status_code == 422
    assert "1,000" in response.json()["errors"]["leads"][0]
    assert Lead.objects.count() == 0


def test_a_source_cannot_reach_another_sources_lead(client, source, other_source):
    theirs = post(client, source, lead_payload(source_lead_id="SHARED-ID")).json()

    mine = post(
        client,
        other_source,
        lead_payload(
            source_lead_id="SHARED-ID", phone="7135550100", email="", zip="77002", state="TX"
        ),
    )

    assert mine.status_code == 201  # a new lead of its own, not a replay of the other's
    assert mine.json()["id"] != theirs["id"]
    assert Lead.objects.get(pk=mine.json()["id"]).source == other_source
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {other_source.api_key}").status_code == 405


def test_quality_flags_are_warnings_not_rejections(client, source):
    response = post(
        client,
        source,
        lead_payload(first_name="Test", last_name="Test", email="x@mailinator.com"),
    )

    assert response.status_code == 201
    assert set(response.json()["warnings"]) >= {"fake_name", "disposable_email"}
    assert set(Lead.objects.get().quality_flags) >= {"fake_name", "disposable_email"}


def test_split_area_code_records_both_zones(client, source):
    response = post(
        client,
        source,
        lead_payload(phone="(850) 555-0142", zip="32502", state="FL", email=""),
    )

    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.time_zone == "America/Chicago"
    assert set(lead.area_code_time_zones) == {"America/Chicago", "America/New_York"}
    assert lead.time_zone_mismatch is False


def test_zip_and_area_code_in_different_zones_is_recorded(client, source):
    response = post(client, source, lead_payload(phone="(213) 555-0142", email=""))

    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.time_zone == "America/New_York"
    assert lead.area_code_time_zones == ["America/Los_Angeles"]
    assert lead.time_zone_mismatch is True
    assert "time_zone_mismatch" in response.json()["warnings"]


def test_the_fast_lane_scores_the_lead_after_commit(
    client, source, settings, django_capture_on_commit_callbacks
):
    from crm.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = post(client, source, lead_payload())
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER

    assert len(callbacks) == 1
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.score > 0
    received = lead.history.earliest()
    assert received.history_change_reason == "Received from the source"
    assert received.history_date == lead.received_at
    assert received.history_type == "+"
    assert ConsentRecord.objects.get(lead=lead).history.count() == 1


def test_openapi_schema_is_valid_and_documented(client):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = client.get(reverse("api_schema"), HTTP_ACCEPT="application/json").json()
    docs = client.get(reverse("api_docs"))

    assert "/api/v1/leads/" in schema["paths"]
    assert "/api/v1/leads/batch/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["SourceKey"]["scheme"] == "bearer"
    assert docs.status_code == 200


def test_intake_fingerprints_the_disclosure_as_the_model_does(client, source):
    response = post(client, source, lead_payload())

    consent = ConsentRecord.objects.get(lead_id=response.json()["id"])
    stored = consent.disclosure_sha256
    consent.save()  # ConsentRecord.save() computes it again
    assert stored and stored == consent.disclosure_sha256


@pytest.mark.parametrize(("given", "stored"), [("es", "es"), ("es-MX", "es"), ("EN_us", "en")])
def test_a_lead_may_say_its_language(client, source, given, stored):
    response = post(client, source, lead_payload(language=given))

    assert response.status_code == 201
    assert Lead.objects.get(pk=response.json()["id"]).language == stored


def test_a_language_that_is_no_iso_code_is_refused(client, source):
    response = post(client, source, lead_payload(language="Spanish"))

    assert response.status_code == 422
    assert "language" in response.json()["errors"]
