"""A call's outcome acts: status, conversions, callbacks, opt-outs and the queue; notes,
callbacks and do-not-contact from the lead page. Through the rep's pages."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.models import Suppression, SuppressionScope
from leads.cadences.touches import due_touches_dispatch
from leads.lifecycle import ConversionError, conversion_record, status_after
from leads.models import (
    ContactAttempt,
    Conversion,
    ConversionKind,
    ConversionOrigin,
    Lead,
    LeadNote,
    LeadStatus,
    Touch,
    TouchStatus,
)
from leads.workspace.alerts import due_callbacks_alert
from leads.workspace.queue import CALLBACK_DUE, leads_queue_refresh
from tests.factories import ConsentRecordFactory, LeadFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(rep, source):
    lead = LeadFactory(source=source, owner=rep)
    ConsentRecordFactory(lead=lead)
    leads_queue_refresh(leads=[lead])
    return lead


def _call(client, lead) -> ContactAttempt:
    client.post(reverse("lead_call_start", args=[lead.pk]))
    return ContactAttempt.objects.filter(lead=lead).latest("started_at")


def _outcome(client, lead, attempt, **data):
    return client.post(reverse("lead_call_outcome", args=[lead.pk, attempt.pk]), data, follow=True)


def test_contact_sets_first_contact_and_records_one_contacted_conversion(rep_client, lead):
    for _ in range(2):
        _outcome(rep_client, lead, _call(rep_client, lead), disposition="contacted")

    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED
    assert lead.first_contact_at == MONDAY_10AM
    assert list(lead.conversions.values_list("kind", flat=True)) == ["contacted"]


def test_a_sale_needs_its_revenue_and_records_it_as_a_decimal(rep_client, lead):
    attempt = _call(rep_client, lead)

    refused = _outcome(rep_client, lead, attempt, disposition="sale")
    assert "Sale amount ($): A sale needs its revenue." in refused.content.decode()
    assert not Conversion.objects.filter(lead=lead).exists()

    _outcome(rep_client, lead, attempt, disposition="sale", revenue="1200.50")
    lead.refresh_from_db()
    sale = lead.conversions.get(kind=ConversionKind.SALE)
    assert sale.revenue == Decimal("1200.50")
    assert sale.origin == ConversionOrigin.REP and sale.attempt == attempt
    assert lead.status == LeadStatus.WON
    assert set(lead.conversions.values_list("kind", flat=True)) == {"contacted", "sale"}


def test_an_appointment_records_its_conversion(rep_client, lead):
    _outcome(rep_client, lead, _call(rep_client, lead), disposition="appointment_set")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.APPOINTMENT
    assert set(lead.conversions.values_list("kind", flat=True)) == {"contacted", "appointment"}


def test_a_callback_is_typed_in_their_time_and_comes_back_on_top_at_that_time(
    rep_client, rep, source, clock
):
    chicago = LeadFactory(
        source=source,
        owner=rep,
        state="IL",
        zip_code="60601",
        time_zone="America/Chicago",
        phone="+13125550100",
    )
    ConsentRecordFactory(lead=chicago)
    leads_queue_refresh(leads=[chicago])
    attempt = _call(rep_client, chicago)

    missing = _outcome(rep_client, chicago, attempt, disposition="callback_requested")
    assert "Call back at: Say when to call back." in missing.content.decode()

    _outcome(
        rep_client,
        chicago,
        attempt,
        disposition="callback_requested",
        callback_at="2026-11-23T11:30",  # 11:30 in Chicago: 17:30 UTC
    )
    touch = Touch.objects.get(lead=chicago, channel="call")
    assert touch.due_at == datetime.datetime(2026, 11, 23, 17, 30, tzinfo=datetime.UTC)
    chicago.refresh_from_db()
    assert chicago.callable_at == touch.due_at  # not offered before the time they asked
    assert chicago.priority < CALLBACK_DUE  # nor ahead of leads that may be called now
    assert rep_client.post("/leads/next/")["Location"] == reverse("my_leads")

    clock.move_to(datetime.datetime(2026, 11, 23, 17, 31, tzinfo=datetime.UTC))
    assert due_callbacks_alert() == 1
    assert due_callbacks_alert() == 0  # told once
    chicago.refresh_from_db()
    assert chicago.priority == CALLBACK_DUE
    assert rep.alerts.get().kind == "callback_due"
    assert rep_client.post("/leads/next/")["Location"] == reverse("lead_detail", args=[chicago.pk])

    _call(rep_client, chicago)
    touch.refresh_from_db()
    assert touch.status == TouchStatus.DONE


def test_the_clock_never_sends_a_call_touch(rep_client, lead, clock):
    rep_client.post(
        reverse("lead_callback_create", args=[lead.pk]),
        {"callback-callback_at": "2026-11-23T10:05", "callback-note": "after lunch"},
    )
    clock.shift(datetime.timedelta(minutes=10))
    assert due_touches_dispatch() == 0
    assert Touch.objects.get(lead=lead).status == TouchStatus.SCHEDULED


def test_a_callback_in_the_past_is_refused_naming_the_field(rep_client, lead):
    page = rep_client.post(
        reverse("lead_callback_create", args=[lead.pk]),
        {"callback-callback_at": "2026-11-23T09:00"},
        follow=True,
    )
    assert "Call back at: Choose a time in the future." in page.content.decode()
    assert not Touch.objects.filter(lead=lead).exists()


def test_bad_number_closes_the_lead_and_takes_it_off_the_queue(rep_client, lead):
    _outcome(rep_client, lead, _call(rep_client, lead), disposition="bad_number")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INVALID
    assert not Lead.objects.open().filter(pk=lead.pk).exists()


def test_do_not_contact_opts_out_every_channel_and_cancels_callbacks(rep_client, lead):
    rep_client.post(
        reverse("lead_callback_create", args=[lead.pk]),
        {"callback-callback_at": "2026-11-23T15:00"},
    )
    rep_client.post(reverse("lead_do_not_contact", args=[lead.pk]))

    lead.refresh_from_db()
    assert lead.status == LeadStatus.DO_NOT_CONTACT
    scopes = set(Suppression.objects.filter(lead=lead).values_list("channel_scope", flat=True))
    assert scopes == {SuppressionScope.ALL}
    assert Suppression.objects.filter(lead=lead).count() == 2  # the phone and the email
    assert Touch.objects.get(lead=lead).status == TouchStatus.CANCELLED


def test_notes_are_kept_and_an_empty_one_is_refused(rep_client, lead, rep):
    rep_client.post(reverse("lead_note_create", args=[lead.pk]), {"note-body": "Prefers text"})
    empty = rep_client.post(
        reverse("lead_note_create", args=[lead.pk]), {"note-body": "  "}, follow=True
    )
    assert "Note: This field is required." in empty.content.decode()
    assert list(LeadNote.objects.values_list("body", "author")) == [("Prefers text", rep.pk)]
    assert "Prefers text" in rep_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()


def test_another_reps_lead_refuses_every_action(client, other_rep, lead):
    client.force_login(other_rep)
    for name in ("lead_note_create", "lead_callback_create", "lead_do_not_contact"):
        assert client.post(reverse(name, args=[lead.pk]), {"note-body": "x"}).status_code == 404
    assert not LeadNote.objects.exists()


def test_the_lead_page_reads_the_same_number_of_queries_for_a_long_history(rep_client, lead):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert rep_client.get(reverse("lead_detail", args=[lead.pk])).status_code == 200
        return len(captured)

    _outcome(rep_client, lead, _call(rep_client, lead), disposition="no_answer")
    short = queries()
    for _ in range(15):
        _outcome(rep_client, lead, _call(rep_client, lead), disposition="voicemail")
        rep_client.post(reverse("lead_note_create", args=[lead.pk]), {"note-body": "again"})
    assert queries() == short


def test_status_moves_forward_only():
    assert status_after(current="new", target="working") == "working"
    assert status_after(current="appointment", target="working") == "appointment"
    assert status_after(current="contacted", target="lost") == "lost"
    assert status_after(current="won", target="working") == "won"
    assert status_after(current="lost", target="won") == "won"
    assert status_after(current="returned", target="won") == "returned"


@pytest.mark.parametrize(
    ("kind", "revenue", "at", "field"),
    [
        ("sale", None, None, "revenue"),
        ("sale", Decimal("-1"), None, "revenue"),
        ("sale", Decimal("1.001"), None, "revenue"),
        ("contacted", Decimal("5"), None, "revenue"),
        ("refund", None, None, "kind"),
        ("contacted", None, MONDAY_10AM + datetime.timedelta(hours=1), "at"),
        ("contacted", None, MONDAY_10AM - datetime.timedelta(days=30), "at"),
    ],
)
def test_a_conversion_that_cannot_be_is_refused_naming_the_field(lead, kind, revenue, at, field):
    with pytest.raises(ConversionError) as refused:
        conversion_record(
            lead=lead, kind=kind, revenue=revenue, occurred_at=at, origin=ConversionOrigin.ADMIN
        )
    assert refused.value.field == field
    assert not Conversion.objects.exists()
