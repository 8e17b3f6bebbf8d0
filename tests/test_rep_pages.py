import pytest
from django.urls import reverse

from compliance.models import Suppression
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


def test_rep_sees_why_a_lead_cannot_be_texted(rep_client, rep, source, settings):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    lead = LeadFactory(source=source, owner=rep)
    ConsentRecordFactory(lead=lead, seller_names=["Acme Solar"], disclosure_text="Acme may call.")

    body = rep_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()

    assert "Can we contact them now?" in body
    assert "No texts: the consent does not name Brightside Home Services." in body


def test_rep_records_a_verbal_stop_in_one_click(rep_client, rep, source, settings):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    lead = LeadFactory(source=source, owner=rep)
    ConsentRecordFactory(lead=lead)

    response = rep_client.post(reverse("lead_stop_request", args=[lead.pk, "verbal"]), follow=True)

    suppression = Suppression.objects.get(phone=lead.phone)
    assert suppression.origin == "rep" and suppression.recorded_by == rep
    assert suppression.reason == 'Said "stop calling me" on a call'
    assert lead.consents.get().revocation_means == "verbal"
    body = response.content.decode()
    assert "Recorded: no more marketing to this lead on any channel." in body
    assert "opted out on" in body


def test_rep_records_an_email_reply_asking_to_stop(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep, email="Pat@Example.com")

    rep_client.post(reverse("lead_stop_request", args=[lead.pk, "email_reply"]))

    assert Suppression.objects.get(email="pat@example.com").channel_scope == "email"


def test_another_rep_cannot_record_a_stop_for_my_lead(client, rep, other_rep, source):
    lead = LeadFactory(source=source, owner=rep)
    client.force_login(other_rep)

    response = client.post(reverse("lead_stop_request", args=[lead.pk, "verbal"]))

    assert response.status_code == 404
    assert not Suppression.objects.exists()


def test_a_stop_is_recorded_by_post_only(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep)

    response = rep_client.get(reverse("lead_stop_request", args=[lead.pk, "verbal"]))

    assert response.status_code == 405
    assert not Suppression.objects.exists()
