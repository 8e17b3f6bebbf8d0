"""A lead's evidence pack: one download with its consent, every gate decision, attempt,
message and opt-out, each time in UTC and the lead's own time; only for who may see it."""

import datetime
import hashlib
import io
import json
import zipfile

import pytest
from django.test import Client

from compliance.models import ContactDecision
from leads.models import Touch
from tests.factories import (
    ConsentRecordFactory,
    ContactAttemptFactory,
    LeadFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
CAPTURED = datetime.datetime(2026, 11, 2, 14, 3, tzinfo=UTC)  # 09:03 in New York (EST)


@pytest.fixture
def lead(rep):
    lead = LeadFactory(owner=rep, first_name="Dana", phone="+13055550142", email="dana@example.com")
    ConsentRecordFactory(
        lead=lead,
        captured_at=CAPTURED,
        disclosure_text="I agree that Brightside Home Services may call and text me.",
    )
    attempt = ContactAttemptFactory(
        lead=lead, rep=rep, started_at=CAPTURED + datetime.timedelta(minutes=4),
        disposition="no_answer", notes="Rang out.",
    )  # fmt: skip
    touch = Touch.objects.create(
        lead=lead, channel="sms", body="Hi Dana, it's Brightside about your solar quote.",
        status="sent", sent_at=CAPTURED + datetime.timedelta(minutes=1),
    )  # fmt: skip
    for allowed, attempt_link, touch_link in ((True, attempt, None), (False, None, touch)):
        ContactDecision.objects.create(
            lead=lead,
            channel="call" if attempt_link else "sms",
            automated=touch_link is not None,
            stage="request",
            decided_for=CAPTURED,
            allowed=allowed,
            reasons=[] if allowed else [{"code": "quiet_hours", "message": "Too late there."}],
            attempt=attempt_link,
            touch=touch_link,
        )
    # An opt-out of the lead's phone recorded elsewhere (another lead, a list): it covers her.
    SuppressionFactory(phone="+13055550142", reason='Replied "STOP"')
    SuppressionFactory(phone="+12125550000")  # someone else
    return lead


def _pack(response) -> dict[str, bytes]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(response.content)) as pack:
        return {name: pack.read(name) for name in pack.namelist()}


def test_the_pack_holds_every_record_with_both_times(lead, rep_client):
    files = _pack(rep_client.get(f"/leads/{lead.pk}/evidence/"))

    assert set(files) == {"evidence.json", "evidence.html", "SHA256SUMS"}
    evidence = json.loads(files["evidence.json"])
    (consent,) = evidence["consents"]
    assert consent["disclosure_text"].startswith("I agree that Brightside")
    assert (
        consent["disclosure_sha256"]
        == hashlib.sha256(consent["disclosure_text"].encode()).hexdigest()
    )
    assert consent["captured_at"] == {
        "utc": "2026-11-02T14:03:00Z",
        "local": "2026-11-02T09:03:00-05:00",
        "zone": "America/New_York",
        "text": "2026-11-02 14:03:00 UTC · Mon Nov 2 2026, 09:03:00 EST",
    }
    assert [d["allowed"] for d in evidence["gate_decisions"]] == [True, False]
    assert evidence["gate_decisions"][1]["reasons"] == ["Too late there."]
    assert [a["notes"] for a in evidence["attempts"]] == ["Rang out."]
    assert evidence["messages"][0]["body"].startswith("Hi Dana")
    assert [o["reason"] for o in evidence["opt_outs"]] == ['Replied "STOP"']
    html = files["evidence.html"].decode()
    assert "Mon Nov 2 2026, 09:03:00 EST" in html and "Too late there." in html
    assert "Hi Dana, it&#x27;s Brightside" in html
    sums = files["SHA256SUMS"].decode()
    for name in ("evidence.json", "evidence.html"):
        assert f"{hashlib.sha256(files[name]).hexdigest()}  {name}" in sums


def test_the_pack_escapes_what_the_lead_sent(rep, rep_client):
    lead = LeadFactory(owner=rep, first_name="<script>alert(1)</script>")
    ConsentRecordFactory(lead=lead, disclosure_text="<img src=x onerror=alert(1)>")

    html = _pack(rep_client.get(f"/leads/{lead.pk}/evidence/"))["evidence.html"].decode()

    assert "<script>alert" not in html and "<img src=x" not in html


def test_a_lead_without_a_zone_says_its_times_are_utc(rep, rep_client):
    lead = LeadFactory(owner=rep, time_zone="")

    evidence = json.loads(_pack(rep_client.get(f"/leads/{lead.pk}/evidence/"))["evidence.json"])

    assert evidence["lead"]["time_zone"] == "UTC (the lead's zone is unknown)"
    assert evidence["lead"]["received_at"]["local"].endswith("+00:00")


def test_the_manager_downloads_it_and_another_rep_gets_a_404(lead, manager, other_rep):
    manager_client, other_client = Client(), Client()
    manager_client.force_login(manager)
    other_client.force_login(other_rep)

    assert manager_client.get(f"/leads/{lead.pk}/evidence/").status_code == 200
    assert other_client.get(f"/leads/{lead.pk}/evidence/").status_code == 404
    assert Client().get(f"/leads/{lead.pk}/evidence/").status_code == 302


def test_the_lead_page_and_its_admin_page_link_to_the_pack(lead, rep_client, manager):
    admin_client = Client()
    admin_client.force_login(manager)

    page = rep_client.get(f"/leads/{lead.pk}/").content.decode()
    admin_page = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()

    assert f'href="/leads/{lead.pk}/evidence/"' in page
    assert f'href="/leads/{lead.pk}/evidence/"' in admin_page
