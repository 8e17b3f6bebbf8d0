import datetime
from collections import defaultdict

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Q
from django.test import RequestFactory

from compliance.gate import candidate_places
from compliance.hours import hours_check
from compliance.models import ConsentRecord, ContactDecision, Suppression
from compliance.rules import HOURS_CHANNELS, attempt_caps_for
from leads.demo import DEMO_PASSWORD
from leads.models import (
    CadenceEnrollment,
    ContactAttempt,
    Direction,
    EnrollmentStatus,
    Lead,
    LeadSource,
    RepProfile,
    Touch,
    TouchStatus,
)

pytestmark = pytest.mark.django_db

# The demo is made relative to now. A Sunday, 10 PM in New York: no state allows a call at that
# hour, and the 45 days before it hold Thanksgiving (a holiday ban in several states) and the
# end of daylight saving time.
SEEDED_AT = datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.UTC)


@pytest.fixture
def demo_settings(settings):
    settings.DEBUG = True
    settings.SELLER_NAMES = ["Brightside Home Services"]  # as DEBUG sets it
    return settings


@pytest.fixture
def demo(demo_settings):
    """The demo as `make demo` loads it, at SEEDED_AT."""
    with time_machine.travel(SEEDED_AT, tick=False):
        call_command("seed_demo")
        yield


def _counts():
    return (
        Lead.objects.count(),
        LeadSource.objects.count(),
        ConsentRecord.objects.count(),
        Suppression.objects.count(),
        ContactAttempt.objects.count(),
        Touch.objects.count(),
    )


def test_demo_data_is_realistic_and_loading_twice_adds_nothing(demo_settings, capsys):
    with time_machine.travel(SEEDED_AT, tick=False):
        call_command("seed_demo")
    first = _counts()
    with time_machine.travel(SEEDED_AT + datetime.timedelta(days=1), tick=False):
        call_command("seed_demo")

    assert _counts() == first
    leads, sources, consents, suppressions, attempts, touches = first
    assert leads == 2000
    # Loaded as the fast lane would leave them: the clock's sweep has nothing to redo.
    assert not Lead.objects.unprocessed().exists()
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
    own = Touch.objects.filter(cadence_step__isnull=True)
    texts = own.filter(channel="sms").count()
    assert ContactDecision.objects.filter(touch__cadence_step__isnull=True).count() == texts
    # Callbacks some contacted leads asked for come back on the reps' queues today.
    callbacks = own.filter(channel="call", status=TouchStatus.SCHEDULED)
    assert callbacks.count() == own.count() - texts > 0
    assert not callbacks.filter(lead__owner__isnull=True).exists()
    # Some of the reps' newest leads follow their cadence: its first steps went (or wait for
    # the lead's hours), the later ones wait for their time.
    enrolled = CadenceEnrollment.objects.filter(status=EnrollmentStatus.ACTIVE)
    assert enrolled.count() == 40
    planned = Touch.objects.filter(cadence_step__isnull=False)
    assert planned.filter(status=TouchStatus.QUEUED).exists()  # sent once the clock commits
    assert planned.filter(status=TouchStatus.SCHEDULED, due_at__gt=SEEDED_AT).exists()


def test_demo_attempts_all_happened_before_it_was_loaded(demo):
    assert ContactAttempt.objects.count() > 1000
    assert not ContactAttempt.objects.filter(
        Q(started_at__gt=SEEDED_AT) | Q(ended_at__gt=SEEDED_AT)
    ).exists()
    assert not Suppression.objects.filter(received_at__gt=SEEDED_AT).exists()


def test_demo_calls_and_texts_were_made_in_the_leads_calling_hours(demo):
    attempts = ContactAttempt.objects.filter(
        direction=Direction.OUTBOUND, channel__in=HOURS_CHANNELS
    ).select_related("lead")
    outside = []
    for attempt in attempts:
        zones, states = candidate_places(attempt.lead)
        hours = hours_check(
            zones=zones, states=states, at=attempt.started_at, channel=attempt.channel
        )
        if not hours.allowed:
            outside.append(f"{attempt.started_at} {attempt.lead.state}: {hours.reasons[0].message}")

    assert len(attempts) > 1000
    assert outside == [], f"{len(outside)} of {len(attempts)}, e.g. {outside[:3]}"


def test_demo_calls_keep_the_attempt_caps(demo):
    by_phone = defaultdict(list)
    for attempt in ContactAttempt.objects.filter(direction=Direction.OUTBOUND).select_related(
        "lead"
    ):
        by_phone[str(attempt.lead.phone)].append(attempt)
    over = []
    for attempts in by_phone.values():
        attempts.sort(key=lambda attempt: attempt.started_at)
        for number, attempt in enumerate(attempts):
            _, states = candidate_places(attempt.lead)
            for cap in attempt_caps_for(states):
                if attempt.channel not in cap.channels:
                    continue
                # What the gate counts before this attempt: earlier ones in the rolling window.
                counted = [
                    earlier
                    for earlier in attempts[:number]
                    if earlier.channel in cap.channels
                    and earlier.started_at > attempt.started_at - cap.window
                    and (not cap.same_product or earlier.lead.product == attempt.lead.product)
                ]
                if len(counted) >= cap.limit:
                    over.append(f"{attempt.lead.phone} at {attempt.started_at}: {cap.citation}")

    assert over == [], f"{len(over)} attempts over a cap, e.g. {over[:3]}"


def test_demo_reps_hold_no_more_open_leads_than_their_capacity(demo):
    reps = RepProfile.objects.with_open_lead_count().select_related("user")

    assert len(reps) == 2
    for rep in reps:
        assert 0 < rep.open_lead_count <= rep.capacity, rep.user.username
        owned_states = set(rep.user.owned_leads.values_list("state", flat=True))
        assert all(rep.is_licensed_in(state) for state in owned_states), rep.user.username
    # Routing left the leads no rep has claimed or has room for in the pool.
    assert Lead.objects.open().filter(owner=None).exists()


def test_demo_logins_work(demo_settings):
    with time_machine.travel(SEEDED_AT, tick=False):
        call_command("seed_demo", leads=50)

    def sign_in(username):  # as the login page would: sign-in throttling needs the request
        request = RequestFactory().post("/login/")
        return authenticate(request, username=username, password=DEMO_PASSWORD)

    manager = sign_in("manager")
    reps = [sign_in(name) for name in ("rep.alex", "rep.blair")]

    assert manager.is_staff and manager.groups.filter(name="Manager").exists()
    assert all(rep.rep_profile.is_active and not rep.is_staff for rep in reps)
    assert all(rep.owned_leads.exists() for rep in reps)


def test_demo_refuses_more_leads_than_it_has_phone_numbers_for(demo_settings):
    with pytest.raises(CommandError, match="room for 0 to 4,000 leads"):
        call_command("seed_demo", leads=4001)

    assert Lead.objects.count() == 0


def test_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo")

    assert Lead.objects.count() == 0


def test_demo_outcomes_are_in_the_ledger_and_on_the_dashboard(demo):
    from leads.models import Conversion, FeedbackEvent, LeadReturn
    from leads.models.rollup import SourceDayRollup

    won = Lead.objects.filter(status="won")
    sales = Conversion.objects.filter(kind="sale")
    assert sales.count() == won.count() > 0
    assert not sales.filter(revenue__isnull=True).exists()
    assert LeadReturn.objects.count() == Lead.objects.filter(status="returned").count() > 0
    assert FeedbackEvent.objects.filter(type="lead.sold").count() == sales.count()
    # The dashboard reads rollups: every demo day has its figures, sales included.
    assert sum(row.sales for row in SourceDayRollup.objects.all()) == won.count()
