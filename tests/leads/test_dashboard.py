"""The managers' dashboard: its figures against a fixture computed by hand, from rollups."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client

from leads.feedback.rollups import rollups_rebuild
from leads.models import ContactAttempt, Conversion, LeadReturn, RepDayRollup, SourceDayRollup
from leads.sources import manual_source
from tests.factories import LeadFactory, LeadSourceFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
DAY = datetime.date(2026, 11, 10)
MORNING = datetime.datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def minutes(n: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=n)


def _lead(source, *, received=MORNING, attempt=None, contact=None, **fields):
    return LeadFactory(
        source=source,
        received_at=received,
        first_attempt_at=received + minutes(attempt) if attempt is not None else None,
        first_contact_at=received + minutes(contact) if contact is not None else None,
        **fields,
    )


def _converted(lead, kind, revenue=None):
    Conversion.objects.create(
        lead=lead, kind=kind, revenue=revenue, origin="admin", occurred_at=MORNING + minutes(90)
    )


def _returned(lead, status, credit):
    LeadReturn.objects.create(
        lead=lead, source=lead.source, reason="bad_number", status=status, credit=credit,
        origin="rep",
    )  # fmt: skip


def _calls(lead, rep, count):
    for n in range(count):
        ContactAttempt.objects.create(
            lead=lead, rep=rep, channel="call", started_at=lead.received_at + minutes(5 + n)
        )


@pytest.fixture
def fixture(rep, other_rep):
    """The hand-computed day (figures in the tests below)."""
    alpha = LeadSourceFactory(name="Alpha Leads")
    beta = LeadSourceFactory(name="Beta Leads")
    a1 = _lead(alpha, campaign="spring", cost=Decimal("30"), attempt=2, contact=3, owner=rep)
    _converted(a1, "contacted")
    _converted(a1, "sale", Decimal("1000"))
    a2 = _lead(
        alpha, campaign="spring", cost=Decimal("30"), attempt=4 + 1 / 6, duplicate_of=a1,
        owner=other_rep,
    )  # fmt: skip
    _returned(a2, "accepted", Decimal("30"))
    a3 = _lead(alpha, is_exclusive=False, cost=Decimal("10"), attempt=30, contact=45, owner=rep)
    _converted(a3, "contacted")
    _converted(a3, "appointment")
    a4 = _lead(alpha, is_exclusive=False, cost=Decimal("10"))
    _returned(a4, "rejected", Decimal("10"))
    _lead(beta, cost=Decimal("50"), received=datetime.datetime(2026, 11, 10, 23, 59, tzinfo=UTC))
    _lead(beta, cost=Decimal("70"), received=datetime.datetime(2026, 11, 11, 0, 1, tzinfo=UTC))
    by_hand = _lead(manual_source(), cost=Decimal("99"))
    _converted(by_hand, "sale", Decimal("400"))
    _calls(a1, rep, 2)
    _calls(a3, rep, 1)
    _calls(a3, other_rep, 1)  # not a3's owner: not the rep's own work
    _calls(a2, other_rep, 1)
    rollups_rebuild(days=[DAY, DAY + datetime.timedelta(days=1)])
    return {"alpha": alpha, "beta": beta}


def _csv(client, table, **params):
    response = client.get(
        "/admin/dashboard/", {"period": "day", "date": DAY, "csv": table, **params}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_source_table_matches_the_hand_computed_figures(fixture, manager_client):
    rows = {row["Source"]: row for row in _csv(manager_client, "sources")}

    assert list(rows) == ["Alpha Leads", "Beta Leads", "Entered by hand", "All purchased leads"]
    alpha = rows["Alpha Leads"]
    assert {k: alpha[k] for k in ("Leads", "Spend", "Duplicates", "Returns", "Credits")} == {
        "Leads": "4", "Spend": "80.00", "Duplicates": "1", "Returns": "1", "Credits": "30.00",
    }  # fmt: skip
    assert alpha["Net cost"] == "50.00"
    assert (alpha["Contact rate"], alpha["Appointment rate"], alpha["Sale rate"]) == (
        "0.5000", "0.2500", "0.2500",
    )  # fmt: skip
    # Minutes to first attempt 2, 4.2 and 30: the median lead's bucket is 4 to 5 minutes.
    assert alpha["Median to first attempt"] == "4-5"
    # To first contact 3 and 45: the lower median, 3 to 4 minutes.
    assert alpha["Median to first contact"] == "3-4"
    assert (alpha["Revenue"], alpha["Cost per sale"], alpha["ROAS"]) == (
        "1000.00",
        "50.00",
        "20.0000",
    )
    beta = rows["Beta Leads"]
    assert (beta["Leads"], beta["Spend"], beta["Contact rate"]) == ("1", "50.00", "0.0000")
    # No sale: no cost per sale; no revenue over a net cost: a ROAS of 0; nobody called.
    assert (beta["Cost per sale"], beta["ROAS"], beta["Median to first attempt"]) == (
        "",
        "0.0000",
        "",
    )
    by_hand = rows["Entered by hand"]
    assert (by_hand["Leads"], by_hand["Revenue"]) == ("1", "400.00")
    assert (by_hand["Spend"], by_hand["Net cost"], by_hand["Cost per sale"], by_hand["ROAS"]) == (
        "", "", "", "",
    )  # fmt: skip
    total = rows["All purchased leads"]
    assert (total["Leads"], total["Spend"], total["Net cost"], total["Revenue"]) == (
        "5", "130.00", "100.00", "1000.00",
    )  # fmt: skip
    assert (total["Cost per sale"], total["ROAS"]) == ("100.00", "10.0000")


def test_exclusive_and_shared_side_by_side(fixture, manager_client):
    rows = {row["Source"]: row for row in _csv(manager_client, "exclusivity")}

    alpha = rows["Alpha Leads"]
    assert (alpha["Leads (exclusive)"], alpha["Leads (shared)"]) == ("2", "2")
    assert (alpha["Net cost (exclusive)"], alpha["Net cost (shared)"]) == ("30.00", "20.00")
    assert (alpha["Sale rate (exclusive)"], alpha["Sale rate (shared)"]) == ("0.5000", "0.0000")
    assert (alpha["Cost per sale (exclusive)"], alpha["Cost per sale (shared)"]) == ("30.00", "")
    assert (alpha["ROAS (exclusive)"], alpha["ROAS (shared)"]) == ("33.3333", "0.0000")
    assert rows["Beta Leads"]["Leads (shared)"] == "0"


def test_the_campaign_and_rep_tables(fixture, manager_client):
    campaigns = [
        (row["Source"], row["Campaign"], row["Leads"]) for row in _csv(manager_client, "campaigns")
    ]
    reps = {row["Rep"]: row for row in _csv(manager_client, "reps")}

    assert campaigns == [
        ("Alpha Leads", "(none)", "2"),
        ("Alpha Leads", "spring", "2"),
        ("Beta Leads", "(none)", "1"),
        ("Entered by hand", "(none)", "1"),
    ]
    riley = reps["Riley One"]
    assert (riley["Leads"], riley["Attempts per lead"], riley["Median to first attempt"]) == (
        "2", "1.5000", "2-3",
    )  # fmt: skip
    assert (riley["Contact rate"], riley["Sale rate"], riley["Revenue"]) == (
        "1.0000", "0.5000", "1000.00",
    )  # fmt: skip
    sam = reps["Sam Two"]
    assert (sam["Leads"], sam["Attempts per lead"], sam["Contact rate"]) == (
        "1",
        "1.0000",
        "0.0000",
    )


def test_a_week_takes_in_every_day_of_it(fixture, manager_client):
    rows = {row["Source"]: row for row in _csv(manager_client, "sources", period="week")}

    assert rows["Beta Leads"]["Leads"] == "2"
    assert rows["All purchased leads"]["Spend"] == "200.00"


def test_the_page_shows_the_figures_and_dashes_for_nothing_to_divide(fixture, manager_client):
    page = manager_client.get("/admin/dashboard/", {"period": "day", "date": DAY})
    empty = manager_client.get("/admin/dashboard/", {"period": "day", "date": "2026-01-01"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "$50.00" in text and "20.00" in text and "4\u20135 min" in text
    assert "Figures as of" in text and "UTC" in text
    assert text.count('<svg class="chart"') == 3
    assert "No leads in this period." in empty.content.decode()
    assert "No figures have been computed for this period yet." in empty.content.decode()


def test_a_bad_period_falls_back_to_today_and_says_why(manager_client):
    response = manager_client.get(
        "/admin/dashboard/", {"period": "custom", "since": "2026-11-10", "until": "2026-11-01"}
    )

    assert response.status_code == 200
    assert "until: must not be before since." in response.content.decode().lower()


def test_reps_and_staff_without_the_permission_are_refused(rep):
    staff = UserFactory(username="clerk", is_staff=True)
    client, rep_client = Client(), Client()
    client.force_login(staff)
    rep_client.force_login(rep)

    assert rep_client.get("/admin/dashboard/")["Location"].startswith("/admin/login/")
    assert client.get("/admin/dashboard/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_sourcedayrollup"))
    assert client.get("/admin/dashboard/").status_code == 200


def test_a_rebuild_replaces_stale_rows(fixture):
    alpha = fixture["alpha"]
    alpha.leads.filter(campaign="spring").update(campaign="autumn")

    rollups_rebuild(days=[DAY])

    campaigns = set(
        SourceDayRollup.objects.filter(day=DAY, source=alpha).values_list("campaign", flat=True)
    )
    assert campaigns == {"", "autumn"}
    assert RepDayRollup.objects.filter(day=DAY).count() == 2


def test_the_manager_rebuilds_a_range_from_the_dashboard(
    fixture, manager_client, settings, django_capture_on_commit_callbacks
):
    settings.TASKS_IN_PROCESS = True
    SourceDayRollup.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            "/admin/dashboard/rebuild/", {"period": "custom", "since": DAY, "until": DAY}
        )

    assert response.status_code == 302
    assert SourceDayRollup.objects.filter(day=DAY).count() == 4


def test_the_admin_home_shows_todays_key_figures(fixture, manager_client):
    with time_machine.travel(MORNING + datetime.timedelta(hours=3)):
        response = manager_client.get("/admin/")

    text = response.content.decode()
    assert 'id="today-figures"' in text
    assert "$130.00" in text  # spend of purchased leads: the hand-entered lead's is left out
    assert "$100.00" in text  # cost per sale: net cost 100 over one sale
    assert "/admin/dashboard/" in text


def test_the_clock_keeps_the_recent_figures(source, settings):
    from django.core.management import call_command

    # Beat's entries, which run_clock stands in for without Redis.
    assert {"refresh-rollups", "refresh-rollups-nightly", "prepare-daily-feedback-files"} <= set(
        settings.CELERY_BEAT_SCHEDULE
    )
    with time_machine.travel(MORNING + datetime.timedelta(hours=2)):
        _lead(source, cost=Decimal("25"))
        call_command("run_clock", "--once")

    (row,) = SourceDayRollup.objects.filter(day=DAY)
    assert (row.leads, row.spend) == (1, Decimal("25.00"))
