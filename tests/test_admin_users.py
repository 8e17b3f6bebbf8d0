"""Managers manage reps' accounts, and cannot raise anyone's privileges, their own included."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from crm.roles import MANAGER, REP
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def _change_data(client, user, **changes):
    form = client.get(reverse("admin:auth_user_change", args=[user.pk])).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data["groups"] = [group.pk for group in user.groups.all()]
    data.update(
        {
            "rep_profile-TOTAL_FORMS": "0",
            "rep_profile-INITIAL_FORMS": "0",
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.update(changes)
    return data


def test_a_manager_cannot_make_themselves_superuser(manager_client, manager):
    url = reverse("admin:auth_user_change", args=[manager.pk])

    page = manager_client.get(url)
    manager_client.post(url, {"username": manager.username, "is_superuser": "on"})

    manager.refresh_from_db()
    assert not manager.is_superuser
    assert "is_superuser" not in page.context["adminform"].form.fields


def test_a_manager_gives_a_rep_the_rep_group_but_not_manager_or_superuser(manager_client, rep):
    manager_group = Group.objects.get(name=MANAGER)
    url = reverse("admin:auth_user_change", args=[rep.pk])

    refused = manager_client.post(url, _change_data(manager_client, rep, groups=[manager_group.pk]))
    manager_client.post(url, _change_data(manager_client, rep, is_superuser="on", is_staff="on"))

    assert refused.status_code == 200  # the form says the group is not a valid choice
    assert "groups" in refused.context["adminform"].form.errors
    rep.refresh_from_db()
    assert (rep.is_superuser, rep.is_staff) == (False, False)
    assert list(rep.groups.values_list("name", flat=True)) == [REP]
    form = manager_client.get(url).context["adminform"].form
    assert list(form.fields["groups"].queryset.values_list("name", flat=True)) == [REP]
    assert "user_permissions" not in form.fields


def test_a_manager_resets_a_reps_password(manager_client, rep):
    url = reverse("admin:auth_user_password_change", args=[rep.pk])

    response = manager_client.post(
        url, {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"}
    )

    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password("a-new-long-passphrase")


def test_a_manager_creates_a_rep(manager_client):
    response = manager_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "rep.new",
            "usable_password": "true",
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
            "rep_profile-TOTAL_FORMS": "0",
            "rep_profile-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.filter(username="rep.new", is_staff=False, is_superuser=False).exists()


@pytest.mark.parametrize("kind", ["superuser", "other_manager"])
def test_a_manager_cannot_change_a_superuser_or_another_manager(manager_client, kind):
    if kind == "superuser":
        target = User.objects.create_superuser("root", "root@example.com", "a-long-passphrase")
    else:
        target = ManagerFactory(username="other.manager")
    target.set_password("their-own-passphrase")
    target.save()

    password = manager_client.post(
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": "taken-over-passphrase", "password2": "taken-over-passphrase"},
    )
    change = manager_client.post(
        reverse("admin:auth_user_change", args=[target.pk]),
        {"username": target.username, "is_staff": "", "groups": []},
    )

    assert password.status_code == 403
    assert change.status_code == 403
    target.refresh_from_db()
    assert target.check_password("their-own-passphrase")
    assert target.is_staff


def test_a_superuser_still_manages_everyone(admin_client, manager):
    form = (
        admin_client.get(reverse("admin:auth_user_change", args=[manager.pk]))
        .context["adminform"]
        .form
    )

    assert {"is_superuser", "is_staff", "user_permissions"} <= set(form.fields)
    assert set(form.fields["groups"].queryset.values_list("name", flat=True)) >= {REP, MANAGER}
