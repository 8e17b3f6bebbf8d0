import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from compliance.models import ConsentRecord, ContactDecision, Suppression
from leads.demo import DEMO_PASSWORD
from leads.models import ContactAttempt, Lead, LeadSource, Touch, TouchStatus

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Lead.objects.count(),
        LeadSource.objects.count(),
        ConsentRecord.objects.count(),
        Suppression.objects.count(),
        ContactAttempt.objects.count(),
        Touch.objects.count(),
    )


def test_demo_data_is_realistic_and_loading_twice_adds_nothing(settings, capsys):
    settings.DEBUG = True
    settings.SELLER_NAMES = ["Brightside Home Services"]  # as DEBUG sets it

    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")

    assert _counts() == first
    leads, sources, consents, suppressions, attempts, touches = first
    assert leads == 2000
    assert sources >= 3
    assert 0.8 * leads < consents <= leads
    assert suppressions > 0
    assert attempts > leads
    assert Lead.objects.values("state").distinct().count() >= 30
    assert Lead.objects.values("time_zone").distinct().count() >= 6
    assert Lead.objects.filter(duplicate_of__isnull=False).exists()
    assert "API key for" in capsys.readouterr().out
    # Welcome texts were planned through the gate: opted-out leads' texts are blocked.
    assert touches > 0
    assert Touch.objects.filter(status=TouchStatus.BLOCKED).exists()
    assert Touch.objects.filter(status=TouchStatus.SCHEDULED).exists()
    assert ContactDecision.objects.filter(touch__isnull=False).count() == touches


def test_demo_logins_work(settings):
    settings.DEBUG = True
    call_command("seed_demo", leads=50)

    manager = authenticate(username="manager", password=DEMO_PASSWORD)
    reps = [
        authenticate(username=name, password=DEMO_PASSWORD) for name in ("rep.alex", "rep.blair")
    ]

    assert manager.is_staff and manager.groups.filter(name="Manager").exists()
    assert all(rep.rep_profile.is_active and not rep.is_staff for rep in reps)
    assert all(rep.owned_leads.exists() for rep in reps)


def test_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo")

    assert Lead.objects.count() == 0
