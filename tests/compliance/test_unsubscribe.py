import re

import pytest
from django.test import Client
from django.urls import reverse

from compliance.models import ConsentRecord, Suppression, SuppressionOrigin, SuppressionScope
from compliance.unsubscribe import (
    InvalidUnsubscribeToken,
    email_requirements_missing,
    email_unsubscribe,
    list_unsubscribe_headers,
    marketing_email_footer,
    unsubscribe_token,
    unsubscribe_token_read,
)
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db

ADDRESS = "100 Main St, Miami, FL 33130"


@pytest.fixture(autouse=True)
def business(settings):
    settings.SITE_URL = "https://crm.example.com"
    settings.BUSINESS_NAME = "Brightside Home Services"
    settings.BUSINESS_POSTAL_ADDRESS = ADDRESS
    settings.UNSUBSCRIBE_MAILTO = ""


@pytest.fixture
def lead():
    lead = LeadFactory(email="jordan.lee@example.com")
    ConsentRecordFactory(lead=lead)
    return lead


def page_url(lead) -> str:
    token = unsubscribe_token(email=lead.email, lead_id=lead.pk)
    return reverse("compliance:unsubscribe", args=[token])


def token_in(url: str) -> str:
    """Return the token of an unsubscribe URL (tokens carry their time, so compare contents)."""
    match = re.fullmatch(r"https://crm\.example\.com/u/([^/]+)/", url)
    assert match, url
    return match[1]


def unsubscribes(email: str):
    return Suppression.objects.filter(email=email, origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE)


def test_headers_offer_rfc_8058_one_click(lead):
    headers = list_unsubscribe_headers(email=lead.email, lead_id=lead.pk)

    assert headers.keys() == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    web = headers["List-Unsubscribe"]
    assert web.startswith("<") and web.endswith(">")
    token = token_in(web[1:-1])
    assert unsubscribe_token_read(token=token) == ("jordan.lee@example.com", lead.pk)


def test_headers_add_the_unsubscribe_mailbox_when_configured(settings, lead):
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@brightside.example"

    headers = list_unsubscribe_headers(email=lead.email)

    web, mail = headers["List-Unsubscribe"].split(", ")
    assert unsubscribe_token_read(token=token_in(web[1:-1])) == (lead.email, None)
    assert mail == "<mailto:unsubscribe@brightside.example?subject=unsubscribe>"


def test_the_page_asks_first_and_does_not_unsubscribe(client, lead):
    response = client.get(page_url(lead))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Unsubscribe j***@example.com from Brightside Home Services" in body
    assert "jordan.lee" not in body
    assert 'method="post"' in body
    assert not unsubscribes(lead.email).exists()
    assert ConsentRecord.objects.get(lead=lead).revoked_at is None


def test_the_form_unsubscribes_at_once_and_revokes_consent(lead):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(page_url(lead))
    csrf_token = page.context["csrf_token"]

    response = browser.post(page_url(lead), {"csrfmiddlewaretoken": str(csrf_token)})

    assert response.status_code == 200
    assert "You're unsubscribed; it took effect immediately." in response.content.decode()
    suppression = unsubscribes(lead.email).get()
    assert suppression.channel_scope == SuppressionScope.EMAIL
    assert suppression.lead == lead
    assert suppression.reason == "Unsubscribe link"
    consent = ConsentRecord.objects.get(lead=lead)
    assert consent.revoked_at is not None
    assert consent.revocation_means == "email"


def test_the_form_without_a_csrf_token_is_refused(lead):
    response = Client(enforce_csrf_checks=True).post(page_url(lead))

    assert response.status_code == 403
    assert not unsubscribes(lead.email).exists()


def test_one_click_post_from_a_mail_client_works_without_csrf(lead):
    mail_client = Client(enforce_csrf_checks=True)

    response = mail_client.post(page_url(lead), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert unsubscribes(lead.email).get().reason == "One-click unsubscribe"
    assert ConsentRecord.objects.get(lead=lead).revoked_at is not None


@pytest.mark.parametrize("method", ["get", "form", "one_click"])
def test_a_tampered_token_is_refused(client, lead, method):
    from django.core import signing

    # A link sent before opaque tokens, with someone else's address and this one's signature.
    token = signing.dumps([lead.email, lead.pk], salt="compliance.unsubscribe")
    other = signing.dumps(["someone.else@example.com"], salt="compliance.unsubscribe")
    tampered = other.split(":")[0] + token[token.index(":") :]
    url = reverse("compliance:unsubscribe", args=[tampered])

    if method == "get":
        response = client.get(url)
    elif method == "form":
        response = client.post(url)
    else:
        response = client.post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 400
    assert "This unsubscribe link is not valid" in response.content.decode()
    assert not Suppression.objects.exists()


def test_a_bad_token_raises_a_clear_error():
    with pytest.raises(InvalidUnsubscribeToken):
        email_unsubscribe(token="not-a-token")


def test_unsubscribing_twice_keeps_one_entry(client, lead):
    first = email_unsubscribe(token=unsubscribe_token(email=lead.email, lead_id=lead.pk))

    response = client.post(page_url(lead), {"List-Unsubscribe": "One-Click"})
    again = email_unsubscribe(token=unsubscribe_token(email=lead.email.upper()))

    assert response.status_code == 200
    assert again == first
    assert unsubscribes(lead.email).count() == 1


def test_the_footer_carries_the_postal_address_and_the_link(lead):
    footer = marketing_email_footer(email=lead.email, lead_id=lead.pk)

    assert ADDRESS in footer
    url = re.search(r"https://\S+", footer)[0]
    assert unsubscribe_token_read(token=token_in(url)) == (lead.email, lead.pk)
    assert "Brightside Home Services" in footer


def test_requirements_name_the_missing_postal_address(settings):
    settings.BUSINESS_POSTAL_ADDRESS = ""

    missing = email_requirements_missing()

    assert len(missing) == 1
    assert "postal address" in missing[0]


def test_requirements_name_a_missing_site_url_in_production(settings):
    settings.DEBUG = False
    settings.SITE_URL = ""

    assert any("SITE_URL" in problem for problem in email_requirements_missing())


def test_requirements_are_met_when_configured(settings):
    settings.DEBUG = False

    assert email_requirements_missing() == []


def _readable(token: str) -> str:
    """Everything a curious reader could decode from a token."""
    import base64

    padded = token + "=" * (-len(token) % 4)
    try:
        return base64.urlsafe_b64decode(padded).decode("latin-1")
    except ValueError:
        return ""


def test_new_unsubscribe_links_carry_no_address_or_lead_id(lead):
    url = marketing_email_footer(email=lead.email, lead_id=lead.pk).rsplit(" ", 1)[-1]
    token = re.search(r"/u/([^/]+)/", url).group(1)

    for text in (token, _readable(token)):
        assert "jordan" not in text.lower() and "example" not in text
    assert ":" not in token  # not a signed value that could be decoded
    assert unsubscribe_token(email=lead.email, lead_id=lead.pk) == token  # one link per address
    assert unsubscribe_token_read(token=token) == (lead.email, lead.pk)


def test_a_link_sent_before_opaque_tokens_still_unsubscribes(lead, client):
    from django.core import signing

    old_token = signing.dumps([lead.email, lead.pk], salt="compliance.unsubscribe")

    response = client.post(reverse("compliance:unsubscribe", args=[old_token]))

    assert response.status_code == 200
    assert Suppression.objects.filter(
        email=lead.email, origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE
    ).exists()


def test_an_unknown_opaque_token_is_refused(client):
    response = client.get(reverse("compliance:unsubscribe", args=["x" * 24]))

    assert response.status_code == 400
