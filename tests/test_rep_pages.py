import pytest
from django.urls import reverse

from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_rep_sees_their_open_leads_only(rep_client, rep, other_rep, source):
    LeadFactory(source=source, owner=rep, first_name="Mine", status="working")
    LeadFactory(source=source, owner=rep, first_name="Closed", status="won")
    LeadFactory(source=source, owner=other_rep, first_name="Theirs")

    response = rep_client.get(reverse("my_leads"))

    body = response.content.decode()
    assert "Mine" in body
    assert "Closed" not in body
    assert "Theirs" not in body


def test_rep_opens_a_lead_with_its_consent(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep, time_zone="America/Chicago")
    ConsentRecordFactory(lead=lead, seller_names=["Brightside Home Services"])

    response = rep_client.get(reverse("lead_detail", args=[lead.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Brightside Home Services" in body
    assert "America/Chicago" in body


def test_another_reps_lead_is_not_found(client, other_rep, rep, source):
    lead = LeadFactory(source=source, owner=rep)
    client.force_login(other_rep)

    response = client.get(reverse("lead_detail", args=[lead.pk]))

    assert response.status_code == 404


def test_lead_without_consent_warns_the_rep(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep)

    response = rep_client.get(reverse("lead_detail", args=[lead.pk]))

    assert "No consent on record" in response.content.decode()


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("my_leads"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_manager_home_is_the_admin(manager_client):
    response = manager_client.get(reverse("home"))

    assert response["Location"] == reverse("admin:index")
