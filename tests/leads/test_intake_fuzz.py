"""Hostile bodies for the intake API, generated: never a server error, and every refusal names
the field or the body it is about."""

import json
from urllib.parse import quote

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leads.api.schema import ConsentIn, LeadIn
from tests.leads.test_api_intake import BATCH_URL, URL, lead_payload

pytestmark = pytest.mark.django_db

LEAD_FIELDS = list(LeadIn().fields)
CONSENT_FIELDS = list(ConsentIn().fields)
# What a 4xx may name: a documented field, the lead as a whole, the batch's list, the body.
NAMEABLE = {
    *LEAD_FIELDS,
    *(f"consent.{name}" for name in CONSENT_FIELDS),
    "lead",
    "leads",
    "body",
}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as hostile clients send it: NUL, lone surrogates (json.dumps writes "\ud800"), controls.
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.sampled_from(["", " ", "\x00", "Dana\x00", "\ud800", "\udfff", "\ufeff", "' OR 1=1 --"]),
    st.sampled_from([100, 101, 200, 2_001, 10_001, 70_000]).map(lambda n: "x" * n),
)
numbers = st.one_of(
    st.integers(),
    st.floats(),  # NaN and infinities too: json.dumps writes NaN and Infinity
    st.sampled_from([2**63, -(2**63) - 1, 2**64]),  # past PostgreSQL's bigint
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | hostile_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=10,
)


def _nested(depth: int, as_list: bool):
    value = "deep"
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


# Nesting that json.dumps can still write; deeper (past the parser's limit of about 1,000
# levels) is written as text below.
deeply_nested = st.builds(_nested, st.integers(1, 300), st.booleans())


def _nested_text(depth: int, as_list: bool) -> str:
    return "[" * depth + "1" + "]" * depth if as_list else '{"a":' * depth + "1" + "}" * depth


def _lead_with_text(path: str, text: str) -> bytes:
    """Return a good lead as JSON with raw JSON text at the field's path."""
    payload = _with(lead_payload(source_lead_id="FZ-deep"), path, "@RAW@")
    return json.dumps(payload).replace('"@RAW@"', text).encode()


def _with(payload: dict, path: str, value) -> dict:
    name, _, sub = path.partition(".")
    if sub:
        parent = payload.get(name)
        payload[name] = {**(parent if isinstance(parent, dict) else {}), sub: value}
    else:
        payload[name] = value
    return payload


field_paths = st.sampled_from(
    [*LEAD_FIELDS, *(f"consent.{name}" for name in CONSENT_FIELDS), "junk", "consent.junk"]
)


@st.composite
def broken_lead(draw) -> dict:
    """A good lead with some fields swapped for wrong types, hostile text or deep nesting."""
    # A new source_lead_id each time: a replay is answered before the fields are read.
    payload = lead_payload(source_lead_id=f"FZ-{draw(st.uuids()).hex}")
    changes = st.lists(st.tuples(field_paths, json_values | deeply_nested), max_size=6)
    for path, value in draw(changes):
        _with(payload, path, value)
    return payload


lead_documents = st.one_of(broken_lead(), json_values, deeply_nested)


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _form(fields: dict) -> bytes:
    # Percent-encoded UTF-8, with lone surrogates passed through as the bytes they would be.
    return "&".join(
        f"{quote(name.encode('utf-8', 'surrogatepass'))}"
        f"={quote(value.encode('utf-8', 'surrogatepass'))}"
        for name, value in fields.items()
    ).encode()


form_names = st.sampled_from(
    [*LEAD_FIELDS, *(f"consent_{name}" for name in CONSENT_FIELDS), "extra_campaign", "junk"]
)
# JSON no encoder writes: a number past Python's 4,300-digit limit, a duplicated key.
odd_json = st.sampled_from(
    [
        b'{"source_lead_id": "FZ-big", "phone": ' + b"9" * 5_000 + b"}",
        b'{"source_lead_id": "FZ-big", "extra": {"n": 1e999999}}',
        b'{"source_lead_id": "FZ-dup", "source_lead_id": ["x"], "phone": "3055550142"}',
        b'{"source_lead_id": "FZ-trunc", "phone": "305',
    ]
)
nested_past_the_parser = st.builds(_nested_text, st.integers(900, 5_000), st.booleans())
deep_json = st.one_of(
    nested_past_the_parser.map(str.encode),
    st.builds(_lead_with_text, field_paths, nested_past_the_parser),
)
bodies = st.one_of(
    lead_documents.map(lambda value: (_json(value), "application/json")),
    odd_json.map(lambda raw: (raw, "application/json")),
    deep_json.map(lambda raw: (raw, "application/json")),
    st.dictionaries(form_names, hostile_text, max_size=8).map(
        lambda fields: (_form(fields), "application/x-www-form-urlencoded")
    ),
    st.binary(max_size=200).map(lambda raw: (raw, "application/json")),
    st.tuples(st.binary(max_size=50), st.sampled_from(["text/plain", "application/xml", ""])),
)
batch_bodies = st.one_of(
    st.lists(lead_documents, max_size=5).map(lambda leads: (_json({"leads": leads}), None)),
    st.lists(lead_documents, max_size=5).map(lambda leads: (_json(leads), None)),
    json_values.map(lambda value: (_json({"leads": value}), None)),
    deep_json.map(lambda raw: (b'{"leads": [' + raw + b"]}", None)),
    bodies,
)


def send(client, source, url: str, body: bytes, content_type: str | None):
    # A savepoint per example: one example's database error must not abort the next ones.
    with transaction.atomic():
        return client.generic(
            "POST",
            url,
            body,
            content_type=content_type or "application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.api_key}",
        )


def unnamed_problem(status: int, answer) -> str:
    """Say how a 4xx answer fails to name what is wrong, or ""."""
    if status == 413:
        return "" if "body" in answer.get("detail", "") else f"413 without a body detail: {answer}"
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not errors or not isinstance(errors, dict):
        return f"{status} names nothing: {answer}"
    unknown = set(errors) - NAMEABLE
    if unknown:
        return f"{status} names {sorted(unknown)}, which no client sends"
    if not all(isinstance(messages, list) and messages for messages in errors.values()):
        return f"{status} has a field without a message: {errors}"
    return ""


def assert_clear_answer(response):
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics shows the spread
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    answer = json.loads(response.content)
    if 400 <= response.status_code < 500:
        assert not unnamed_problem(response.status_code, answer)
    for result in answer.get("results", []) if isinstance(answer, dict) else []:
        event(f"batch item {result['http_status']}")
        if result["http_status"] >= 400:
            assert not unnamed_problem(result["http_status"], result)


@FUZZ
@given(body=bodies)
def test_a_single_delivery_never_fails_and_names_what_is_wrong(client, source, body):
    assert_clear_answer(send(client, source, URL, *body))


@FUZZ
@given(body=batch_bodies)
def test_a_batch_never_fails_and_names_what_is_wrong(client, source, body):
    assert_clear_answer(send(client, source, BATCH_URL, *body))
