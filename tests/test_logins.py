"""Sign-in throttling on the reps' and the admin's login pages (django-axes, crm.logins)."""

import pytest
from django.urls import reverse

from crm.logins import ADDRESS_FAILURE_LIMIT
from tests.factories import RepFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-passphrase"
PAGES = ["login", "admin:login"]


@pytest.fixture
def person(db):
    user = RepFactory(username="rep.locked", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def _sign_in(client, page, username, password, address="203.0.113.7"):
    return client.post(
        reverse(page), {"username": username, "password": password}, REMOTE_ADDR=address
    )


@pytest.mark.parametrize("page", PAGES)
def test_repeated_failures_lock_the_username_at_that_address(client, person, page, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, page, person.username, "wrong").status_code == 200
    assert _sign_in(client, page, person.username, "wrong").status_code == 429

    locked = _sign_in(client, page, person.username, PASSWORD)

    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed sign-ins" in text and "ask a manager to unlock" in text
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("page", PAGES)
def test_nobody_elsewhere_can_lock_a_rep_out(client, person, page, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        _sign_in(client, page, person.username, "wrong", address="198.51.100.66")

    response = _sign_in(client, page, person.username, PASSWORD, address="203.0.113.7")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_an_address_trying_many_usernames_is_locked(client, person):
    for n in range(ADDRESS_FAILURE_LIMIT):
        _sign_in(client, "login", f"guess{n}", "wrong", address="192.0.2.50")

    from_there = _sign_in(client, "login", person.username, PASSWORD, address="192.0.2.50")
    elsewhere = _sign_in(client, "login", person.username, PASSWORD, address="203.0.113.7")

    assert from_there.status_code == 429
    assert elsewhere.status_code == 302


def test_a_manager_unlocks_a_rep_in_the_admin(client, person, manager, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "login", person.username, "wrong")
    assert _sign_in(client, "login", person.username, PASSWORD).status_code == 429

    client.force_login(manager)
    attempts = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert person.username in attempts.content.decode()
    from axes.models import AccessAttempt

    pk = AccessAttempt.objects.get(username=person.username).pk
    client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [pk], "post": "yes"},
    )
    client.logout()

    assert _sign_in(client, "login", person.username, PASSWORD).status_code == 302
