"""Managers read the gate's decisions and its rules in the admin."""

import pytest
from django.urls import reverse

from compliance.gate import contact_check
from compliance.models import DecisionStage, SuppressionOrigin
from compliance.suppressions import suppression_add
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def decisions(settings):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    no_consent = LeadFactory(first_name="Nora")
    opted_out = LeadFactory(first_name="Omar")
    ConsentRecordFactory(lead=opted_out)
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(opted_out.phone))
    for lead in (no_consent, opted_out):
        contact_check(lead=lead, channel="sms", stage=DecisionStage.SENDING)
    return no_consent, opted_out


def test_the_decision_log_filters_by_reason(admin_client, decisions):
    url = reverse("admin:compliance_contactdecision_changelist")

    everything = admin_client.get(url).content.decode()
    opted_out = admin_client.get(url, {"reason": "opted_out"}).content.decode()

    assert "No texts: there is no consent record." in everything
    assert "opted out on" in everything
    assert "opted out on" in opted_out
    assert "there is no consent record" not in opted_out


def test_decisions_cannot_be_edited_or_deleted(admin_client, decisions):
    decision = decisions[0].contact_decisions.get()

    change = admin_client.post(
        reverse("admin:compliance_contactdecision_change", args=[decision.pk]), {"allowed": "on"}
    )
    delete = admin_client.post(
        reverse("admin:compliance_contactdecision_delete", args=[decision.pk]), {"post": "yes"}
    )

    decision.refresh_from_db()
    assert change.status_code == 403 and delete.status_code == 403
    assert not decision.allowed


def test_the_rules_table_shows_each_state_with_its_law(admin_client):
    response = admin_client.get(reverse("admin:compliance_contactdecision_rules"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Florida" in body and "Fla. Stat. §501.616(6)(a)" in body
    assert "3 per 24 hours about the same product" in body
    assert "47 CFR 64.1200(c)(1)" in body
