"""Returns: the source's window, reasons and monthly cap; automatic returns; the lead page
and the admin."""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from leads.fastlane import lead_process
from leads.feedback.returns import (
    ReturnError,
    return_accept,
    return_reject,
    return_request,
)
from leads.models import (
    ContactAttempt,
    FeedbackEvent,
    Lead,
    LeadReturn,
    LeadStatus,
    ReturnOrigin,
    ReturnStatus,
)
from tests.concurrency import at_once
from tests.conftest import require_service
from tests.factories import ConsentRecordFactory, LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 20, 15, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ask(lead, reason="bad_number", **kwargs):
    return return_request(lead=lead, reason=reason, origin=ReturnOrigin.REP, **kwargs)


def test_a_return_credits_the_leads_cost_and_writes_its_event(source, rep):
    lead = LeadFactory(source=source, cost=Decimal("37.25"))

    lead_return = ask(lead, note="Disconnected", by=rep)

    assert (lead_return.status, lead_return.credit) == (ReturnStatus.REQUESTED, Decimal("37.25"))
    assert lead_return.source == source and lead_return.requested_by == rep
    event = FeedbackEvent.objects.get(lead_return=lead_return)
    assert event.type == "lead.returned" and event.payload["reason"] == "bad_number"


def test_the_window_counts_from_receipt(source, clock):
    source.return_window_days = 2
    source.save()
    lead = LeadFactory(source=source, received_at=NOW)

    clock.move_to(NOW + datetime.timedelta(days=2, seconds=1))
    with pytest.raises(ReturnError) as refused:
        ask(lead)
    assert refused.value.field == "lead" and refused.value.code == "outside_window"
    assert "2 day(s) closed at 2026-11-22 15:00 UTC" in str(refused.value)

    clock.move_to(NOW + datetime.timedelta(days=2))
    assert ask(lead).pk


def test_only_the_sources_allowed_reasons(source):
    source.allowed_return_reasons = ["duplicate"]
    source.save()
    with pytest.raises(ReturnError) as refused:
        ask(LeadFactory(source=source), reason="fraud")
    assert refused.value.field == "reason" and "it takes: duplicate" in str(refused.value)


def test_a_lead_is_returned_once_unless_its_return_was_rejected(source):
    lead = LeadFactory(source=source)
    first = ask(lead)
    with pytest.raises(ReturnError, match="already_returned"):
        ask(lead, reason="fraud")

    return_reject(lead_return=first)
    again = ask(lead, reason="fraud")

    assert again.pk != first.pk
    assert LeadReturn.objects.filter(lead=lead).count() == 2


def test_the_monthly_cap_is_a_percent_of_the_months_leads(source):
    source.return_cap_percent, source.return_window_days = Decimal("20"), 30
    source.save()
    last_month = LeadFactory.create_batch(
        5, source=source, received_at=NOW.replace(day=1) - datetime.timedelta(days=3)
    )
    leads = LeadFactory.create_batch(
        10, source=source, received_at=NOW - datetime.timedelta(hours=1)
    )
    ask(last_month[0])  # asked this month, for a lead of last month: counts this month

    ask(leads[0])
    with pytest.raises(ReturnError) as refused:
        ask(leads[1])

    assert refused.value.code == "over_return_cap"
    assert "at most 20% of a month's leads (2.0 of 10 this month); 2 already" in str(refused.value)
    # A rejected return gives its place back.
    return_reject(lead_return=LeadReturn.objects.get(lead=leads[0]))
    assert ask(leads[1]).pk


def test_the_cap_starts_again_each_calendar_month_utc(source, clock):
    source.return_cap_percent, source.return_window_days = Decimal("50"), 30
    source.save()
    november = LeadFactory.create_batch(2, source=source, received_at=NOW)
    ask(november[0])
    with pytest.raises(ReturnError, match="over_return_cap"):
        ask(november[1])

    clock.move_to(datetime.datetime(2026, 12, 1, 0, 0, 1, tzinfo=datetime.UTC))
    december = LeadFactory.create_batch(2, source=source, received_at=NOW.replace(month=12, day=1))
    ask(december[0])
    # November's leads are outside December's count; their window is open still.
    with pytest.raises(ReturnError, match="over_return_cap"):
        ask(november[1])


@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_cannot_both_take_the_caps_last_place():
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    source = LeadSourceFactory(return_cap_percent=Decimal("10"))
    leads = LeadFactory.create_batch(10, source=source, received_at=NOW)

    def request(lead):
        try:
            return ask(Lead.objects.select_related("source").get(pk=lead.pk)).pk
        except ReturnError as error:
            return error.code

    answers = at_once(request, leads[:6])

    assert sum(isinstance(answer, int) for answer in answers) == 1
    assert answers.count("over_return_cap") == 5
    assert LeadReturn.objects.filter(source=source).count() == 1


def test_accepted_the_lead_is_returned_for_good_and_the_source_told(source, manager):
    lead = LeadFactory(source=source, status=LeadStatus.WORKING)
    lead_return = ask(lead)

    return_accept(lead_return=lead_return, by=manager)

    lead.refresh_from_db()
    lead_return.refresh_from_db()
    assert lead.status == LeadStatus.RETURNED
    assert (lead_return.status, lead_return.decided_by) == (ReturnStatus.ACCEPTED, manager)
    assert list(FeedbackEvent.objects.values_list("type", flat=True)) == [
        "lead.returned",
        "return.accepted",
    ]
    with pytest.raises(ReturnError, match="decided already"):
        return_reject(lead_return=lead_return)


def test_a_duplicate_is_returned_automatically_by_the_fast_lane(rep):
    source = LeadSourceFactory(auto_return_duplicates=True)
    original = LeadFactory(source=source, processed_at=NOW)
    duplicate = LeadFactory(source=source, duplicate_of=original, processed_at=None)
    not_duplicate = LeadFactory(source=source, processed_at=None)

    lead_process(lead_id=duplicate.pk)
    lead_process(lead_id=not_duplicate.pk)

    lead_return = LeadReturn.objects.get()
    assert (lead_return.lead, lead_return.reason) == (duplicate, "duplicate")
    assert lead_return.origin == ReturnOrigin.AUTO and lead_return.requested_by is None


def test_an_automatic_return_that_breaks_a_rule_is_skipped_and_logged(caplog):
    source = LeadSourceFactory(auto_return_duplicates=True, allowed_return_reasons=["fraud"])
    original = LeadFactory(source=source, processed_at=NOW)
    duplicate = LeadFactory(source=source, duplicate_of=original, processed_at=None)

    assert lead_process(lead_id=duplicate.pk)

    assert not LeadReturn.objects.exists()
    duplicate.refresh_from_db()
    assert duplicate.processed_at is not None
    assert "not returned automatically" in caplog.text


def test_a_duplicate_is_not_returned_unless_the_source_says_so(source):
    original = LeadFactory(source=source, processed_at=NOW)
    lead_process(lead_id=LeadFactory(source=source, duplicate_of=original).pk)
    assert not LeadReturn.objects.exists()


# --- Through the pages and the admin --------------------------------------------------


def _call_ended_bad_number(client, lead):
    client.post(reverse("lead_call_start", args=[lead.pk]))
    attempt = ContactAttempt.objects.filter(lead=lead).latest("started_at")
    url = reverse("lead_call_outcome", args=[lead.pk, attempt.pk])
    return client.post(url, {"disposition": "bad_number"}, follow=True)


def test_a_reps_bad_number_returns_the_lead_when_the_source_takes_those_back(rep_client, rep):
    source = LeadSourceFactory(auto_return_invalid=True)
    lead = LeadFactory(source=source, owner=rep)
    ConsentRecordFactory(lead=lead)
    with time_machine.travel(datetime.datetime(2026, 11, 23, 15, 0, tzinfo=datetime.UTC)):
        lead.received_at = datetime.datetime(2026, 11, 23, 14, 0, tzinfo=datetime.UTC)
        lead.save()
        _call_ended_bad_number(rep_client, lead)

    lead_return = LeadReturn.objects.get()
    assert (lead_return.lead, lead_return.reason, lead_return.origin) == (
        lead,
        "bad_number",
        "auto",
    )


def test_the_rep_asks_for_a_return_from_the_lead_page(rep_client, rep, source):
    source.allowed_return_reasons = ["bad_number", "fraud"]
    source.save()
    lead = LeadFactory(source=source, owner=rep, cost=Decimal("12.00"))
    page = rep_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    form = re.search(r'<form[^>]*id="request-return".*?</form>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', form) == ["bad_number", "fraud"]

    response = rep_client.post(
        reverse("lead_return_request", args=[lead.pk]),
        {"return-reason": "fraud", "return-note": "Fake name, fake address"},
        follow=True,
    )

    assert "Return asked of SunPath Media" in response.content.decode()
    lead_return = LeadReturn.objects.get()
    assert (lead_return.reason, lead_return.requested_by, lead_return.origin) == (
        "fraud",
        rep,
        "rep",
    )
    page = response.content.decode()
    assert 'id="request-return"' not in page and "Requested" in page and "$12.00" in page


def test_a_reason_the_source_does_not_take_is_refused_on_the_page(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep)
    response = rep_client.post(
        reverse("lead_return_request", args=[lead.pk]), {"return-reason": "underage"}, follow=True
    )
    assert "Reason: Select a valid choice" in response.content.decode()
    assert not LeadReturn.objects.exists()


def test_past_the_window_the_page_says_so_and_refuses(rep_client, rep, source):
    lead = LeadFactory(source=source, owner=rep, received_at=NOW - datetime.timedelta(days=8))
    page = rep_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "The return window closed" in page and 'id="request-return"' not in page
    response = rep_client.post(
        reverse("lead_return_request", args=[lead.pk]), {"return-reason": "fraud"}, follow=True
    )
    assert "Not returned" in response.content.decode() and "window" in response.content.decode()


def test_another_reps_lead_cannot_be_returned(client, other_rep, rep, source):
    lead = LeadFactory(source=source, owner=rep)
    client.force_login(other_rep)
    response = client.post(
        reverse("lead_return_request", args=[lead.pk]), {"return-reason": "fraud"}
    )
    assert response.status_code == 404 and not LeadReturn.objects.exists()


def test_managers_accept_and_reject_in_bulk_and_see_credits_per_source(client, manager):
    first = LeadSourceFactory(name="Alpha Leads")
    second = LeadSourceFactory(name="Beta Leads")
    returns = [
        ask(LeadFactory(source=first, cost=Decimal("10.00"))),
        ask(LeadFactory(source=first, cost=Decimal("15.50"))),
        ask(LeadFactory(source=second, cost=Decimal("40.00"))),
    ]
    client.force_login(manager)
    url = reverse("admin:leads_leadreturn_changelist")

    client.post(url, {"action": "accept", "_selected_action": [r.pk for r in returns[:2]]})
    client.post(url, {"action": "reject", "_selected_action": [returns[2].pk]})
    again = client.post(url, {"action": "accept", "_selected_action": [returns[2].pk]}, follow=True)

    statuses = dict(LeadReturn.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in returns] == ["accepted", "accepted", "rejected"]
    assert "decided already" in again.content.decode()
    page = client.get(url, {"month": "2026-11"}).content.decode()
    totals = re.search(r'id="credit-totals".*?</table>', page, re.S).group(0)
    assert re.search(r"Alpha Leads</td><td>2</td><td>\$25.50</td><td>\$0.00", totals)
    assert re.search(r"Beta Leads</td><td>0</td><td>\$0.00</td><td>\$0.00", totals)


def test_a_manager_requests_a_return_in_the_admin_through_the_same_rules(client, manager, source):
    source.allowed_return_reasons = ["fraud"]
    source.save()
    lead = LeadFactory(source=source)
    client.force_login(manager)
    url = reverse("admin:leads_leadreturn_add")

    refused = client.post(url, {"lead": lead.pk, "reason": "duplicate", "note": ""})
    made = client.post(url, {"lead": lead.pk, "reason": "fraud", "note": "Fake"})

    assert refused.status_code == 200 and "does not take returns for duplicate" in (
        refused.content.decode()
    )
    assert made.status_code == 302
    lead_return = LeadReturn.objects.get()
    assert (lead_return.origin, lead_return.requested_by) == ("admin", manager)
    assert FeedbackEvent.objects.filter(lead_return=lead_return).count() == 1
