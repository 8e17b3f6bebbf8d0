"""What managers do with feedback: sources' secrets, the outbox and its re-sends, tokens."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from leads.feedback.outbox import feedback_event_record
from leads.feedback.tokens import api_token_create
from leads.models import ApiToken, DeliveryStatus, FeedbackDelivery, FeedbackEvent, LeadSource
from tests.factories import LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db


def test_create_source_with_a_feedback_url_prints_the_signing_secret_once(capsys):
    call_command("create_source", "Prime Leads", "--feedback-url", "https://prime.example/hook")

    lines = capsys.readouterr().out.strip().splitlines()
    source = LeadSource.objects.get(slug="prime-leads")
    assert source.feedback_webhook_url == "https://prime.example/hook"
    assert lines[-1] == source.webhook_signing_secret
    assert "Webhook signing secret" in lines[-2]
    assert LeadSource.objects.by_api_key(lines[-3]) == source


def test_create_source_refuses_a_feedback_url_that_is_no_url():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="feedback_webhook_url"):
        call_command("create_source", "Prime Leads", "--feedback-url", "not a url")


def test_the_admin_never_shows_the_secret_but_rotates_it_showing_the_new_one_once(client, manager):
    source = LeadSourceFactory(feedback_webhook_url="https://vendor.example/hook")
    old = source.webhook_signing_secret
    client.force_login(manager)

    change_page = client.get(reverse("admin:leads_leadsource_change", args=[source.pk]))
    rotated = client.post(
        reverse("admin:leads_leadsource_changelist"),
        {"action": "rotate_signing_secrets", "_selected_action": [source.pk]},
    )

    assert old not in change_page.content.decode()
    source.refresh_from_db()
    assert source.webhook_signing_secret != old
    shown = re.search(r'class="signing-secret">([\w-]+)<', rotated.content.decode()).group(1)
    assert shown == source.webhook_signing_secret
    again = client.get(reverse("admin:leads_leadsource_change", args=[source.pk]))
    assert shown not in again.content.decode()


def test_the_outbox_shows_each_attempt_and_a_manager_resends(client, manager):
    source = LeadSourceFactory(feedback_webhook_url="https://vendor.example/hook")
    event = feedback_event_record(
        lead=LeadFactory(source=source), type="lead.contacted", occurred_at=source.created_at
    )
    FeedbackEvent.objects.filter(pk=event.pk).update(
        status=DeliveryStatus.FAILED, attempts=30, last_status_code=503, next_attempt_at=None
    )
    FeedbackDelivery.objects.create(event=event, status_code=503, duration_ms=12)
    client.force_login(manager)

    page = client.get(reverse("admin:leads_feedbackevent_change", args=[event.pk]))
    listing = client.get(reverse("admin:leads_feedbackevent_changelist"), {"status": "failed"})
    client.post(
        reverse("admin:leads_feedbackevent_changelist"),
        {"action": "resend", "_selected_action": [event.pk]},
    )

    assert "503" in page.content.decode() and "Delivery attempts" in page.content.decode()
    assert "lead.contacted" in listing.content.decode()
    event.refresh_from_db()
    assert (event.status, event.attempts) == (DeliveryStatus.PENDING, 0)
    assert event.next_attempt_at is not None


def test_tokens_are_listed_by_their_hint_and_revoked(client, manager):
    token, key = api_token_create(user=manager, name="billing")
    client.force_login(manager)

    listing = client.get(reverse("admin:leads_apitoken_changelist")).content.decode()
    client.post(
        reverse("admin:leads_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    assert token.key_hint in listing and key not in listing
    assert ApiToken.objects.by_token(key) is None
    assert client.get(reverse("admin:leads_apitoken_add")).status_code == 403


def test_a_rep_cannot_reach_the_feedback_admin(client, rep):
    client.force_login(rep)
    response = client.get(reverse("admin:leads_leadreturn_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_adding_a_source_with_a_feedback_url_shows_its_secret_beside_its_key(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("admin:leads_leadsource_add"),
        {
            "name": "Prime Leads",
            "slug": "prime-leads",
            "is_active": "on",
            "pricing": "fixed",
            "price_per_lead": "31.00",
            "exclusivity": "exclusive",
            "return_window_days": "5",
            "allowed_return_reasons": '["duplicate"]',
            "accepted_states": "[]",
            "accepted_products": "[]",
            "feedback_webhook_url": "https://prime.example/hook",
        },
    )

    source = LeadSource.objects.get(slug="prime-leads")
    shown = re.search(r'class="signing-secret">([\w-]+)<', response.content.decode()).group(1)
    assert shown == source.webhook_signing_secret
