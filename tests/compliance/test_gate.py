"""The compliance gate: every rule, through `decide`, on leads stored in the database."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from compliance import gate
from compliance.gate import contact_check, decide, decide_many
from compliance.models import (
    ContactDecision,
    DecisionStage,
    DncList,
    DncListKind,
    DncListStatus,
    DncNumber,
    SuppressionOrigin,
)
from compliance.suppressions import consent_reassigned_record, suppression_add
from leads.models.attempt import Direction, Disposition
from tests.factories import ConsentRecordFactory, ContactAttemptFactory, LeadFactory

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
MONDAY_10AM = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK)


def utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC)


@pytest.fixture(autouse=True)
def business(settings, db):
    settings.SELLER_NAMES = ["Brightside Home Services"]
    settings.BUSINESS_POSTAL_ADDRESS = "100 Main St, Miami, FL 33130"
    settings.COMPLIANCE_DEFAULT_ATTEMPT_CAP = 6
    settings.SITE_URL = "https://crm.example.com"


def registry(list_date: datetime.date, *numbers: str, kind=DncListKind.NATIONAL, state=""):
    dnc_list = DncList.objects.create(
        kind=kind, state=state, list_date=list_date, status=DncListStatus.READY
    )
    DncNumber.objects.bulk_create(DncNumber(dnc_list=dnc_list, phone=n) for n in numbers)
    return dnc_list


@pytest.fixture
def fresh_registry():
    return registry(MONDAY_10AM.date() - datetime.timedelta(days=3))


def florida_lead(**fields):
    fields.setdefault("received_at", utc(MONDAY_10AM) - datetime.timedelta(days=1))
    return LeadFactory(phone=fields.pop("phone", "+13055550100"), **fields)


def consented_lead(**fields):
    lead = florida_lead(**fields)
    ConsentRecordFactory(lead=lead, captured_at=lead.received_at)
    return lead


def codes(decision) -> list[str]:
    return [reason.code for reason in decision.reasons]


def test_consent_naming_this_business_allows_an_automated_text():
    decision = decide(consented_lead(), "sms", utc(MONDAY_10AM))

    assert decision.allowed
    assert decision.reasons == [] and decision.next_allowed_at is None


@pytest.mark.parametrize(
    ("consent", "message"),
    [
        (None, "there is no consent record"),
        ({"seller_names": ["Acme Solar"], "disclosure_text": "Acme may call."}, "does not name"),
        ({"channels": ["call"]}, "does not cover sms"),
        ({"disclosure_text": ""}, "no disclosure text"),
        ({"captured_at": None}, "no disclosure text or capture time"),
        ({"revoked_at": MONDAY_10AM, "revocation_means": "verbal"}, "consent was revoked"),
    ],
)
def test_automated_texts_need_consent_in_force_naming_this_business(consent, message):
    lead = florida_lead()
    if consent is not None:
        ConsentRecordFactory(lead=lead, **consent)

    decision = decide(lead, "sms", utc(MONDAY_10AM))

    assert not decision.allowed
    assert codes(decision) == ["no_consent"]
    assert message in decision.reasons[0].message
    assert decision.next_allowed_at is None


@pytest.mark.parametrize("channel", ["call", "sms", "email"])
def test_an_opt_out_on_one_channel_ends_marketing_on_every_channel(channel):
    lead = consented_lead()
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone), scope="sms")

    decision = decide(lead, channel, utc(MONDAY_10AM))

    assert not decision.allowed
    assert "opted_out" in codes(decision)
    assert "no marketing on any channel" in decision.reasons[0].message
    assert decision.next_allowed_at is None


def test_an_opt_out_revokes_the_consent_at_once():
    lead = consented_lead()

    suppression_add(origin=SuppressionOrigin.REP, phone=str(lead.phone), lead=lead)

    consent = lead.consents.get()
    assert consent.revoked_at is not None
    assert consent.revocation_means == "verbal"


def test_an_opt_out_recorded_while_a_message_is_queued_blocks_it_at_send():
    lead = consented_lead()
    scheduled, _ = contact_check(lead=lead, channel="sms", stage=DecisionStage.SCHEDULED)
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone))

    at_send, record = contact_check(lead=lead, channel="sms", stage=DecisionStage.SENDING)

    assert scheduled.allowed or "opted_out" not in codes(scheduled)
    assert not at_send.allowed and "opted_out" in codes(at_send)
    assert record.stage == "sending" and record.first_reason == "opted_out"
    assert ContactDecision.objects.filter(lead=lead).count() == 2


def test_a_transactional_reply_may_go_to_a_number_that_opted_out():
    lead = consented_lead()
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone))

    decision = decide(lead, "sms", utc(MONDAY_10AM), purpose="transactional")

    assert decision.allowed


def test_a_reassigned_number_invalidates_the_consent_given_before():
    lead = consented_lead()

    revoked = consent_reassigned_record(
        phone=str(lead.phone), reassigned_on=MONDAY_10AM.date() - datetime.timedelta(hours=1)
    )

    decision = decide(lead, "sms", utc(MONDAY_10AM))
    assert revoked == 1
    assert codes(decision) == ["no_consent"]
    assert lead.consents.get().revocation_means == "reassigned"


def test_manual_calls_without_consent_are_allowed_after_a_fresh_scrub(fresh_registry):
    lead = florida_lead(received_at=utc(MONDAY_10AM) - datetime.timedelta(days=200))

    assert decide(lead, "call", utc(MONDAY_10AM), automated=False).allowed
    assert not decide(lead, "call", utc(MONDAY_10AM), automated=True).allowed


@pytest.mark.parametrize(("age_days", "allowed"), [(31, True), (32, False)])
def test_a_registry_copy_older_than_31_days_counts_as_not_scrubbed(age_days, allowed):
    registry(MONDAY_10AM.date() - datetime.timedelta(days=age_days))
    lead = florida_lead(received_at=utc(MONDAY_10AM) - datetime.timedelta(days=200))

    decision = decide(lead, "call", utc(MONDAY_10AM), automated=False)

    assert decision.allowed is allowed
    assert allowed or codes(decision) == ["dnc_not_scrubbed"]


def test_no_registry_at_all_blocks_manual_calls_without_consent():
    lead = florida_lead(received_at=utc(MONDAY_10AM) - datetime.timedelta(days=200))

    decision = decide(lead, "call", utc(MONDAY_10AM), automated=False)

    assert codes(decision) == ["dnc_not_scrubbed"]
    assert "no copy has been imported" in decision.reasons[0].message


@pytest.mark.parametrize(
    ("inquiry_days_ago", "purchase_days_ago", "allowed"),
    [
        (60, None, True),  # an inquiry within 3 months
        (120, None, False),
        (400, 365, True),  # a purchase within 18 months
        (700, 560, False),
    ],
)
def test_a_business_relationship_exempts_manual_calls_from_the_registry(
    inquiry_days_ago, purchase_days_ago, allowed
):
    registry(MONDAY_10AM.date(), "+13055550100")
    lead = florida_lead(received_at=utc(MONDAY_10AM) - datetime.timedelta(days=inquiry_days_ago))
    if purchase_days_ago:
        ContactAttemptFactory(
            lead=lead,
            disposition=Disposition.SALE,
            started_at=utc(MONDAY_10AM) - datetime.timedelta(days=purchase_days_ago),
        )

    decision = decide(lead, "call", utc(MONDAY_10AM), automated=False)

    assert decision.allowed is allowed
    assert allowed or codes(decision) == ["dnc_national"]


def test_a_do_not_call_request_ends_the_business_relationship(fresh_registry):
    lead = florida_lead()
    suppression_add(origin=SuppressionOrigin.REP, phone=str(lead.phone), scope="call")

    decision = decide(lead, "call", utc(MONDAY_10AM), automated=False)

    assert codes(decision) == ["opted_out"]


def test_consent_overrides_the_registry():
    registry(MONDAY_10AM.date(), "+13055550100")

    assert decide(consented_lead(), "call", utc(MONDAY_10AM)).allowed


def test_a_state_list_binds_leads_in_that_state_only(fresh_registry):
    registry(MONDAY_10AM.date(), "+13055550100", "+12145550100", kind="state", state="FL")
    old = utc(MONDAY_10AM) - datetime.timedelta(days=200)
    in_florida = florida_lead(received_at=old)
    in_texas = LeadFactory(
        phone="+12145550100", state="TX", zip_code="75201", time_zone="America/Chicago",
        received_at=old,
    )  # fmt: skip

    florida = decide(in_florida, "call", utc(MONDAY_10AM), automated=False)
    texas = decide(in_texas, "call", utc(MONDAY_10AM), automated=False)

    assert codes(florida) == ["dnc_state"] and "Florida" in florida.reasons[0].message
    assert texas.allowed


def test_outside_federal_hours_says_when_contact_opens():
    lead = consented_lead(state="GA", zip_code="30303", phone="+14045550100")
    late = datetime.datetime(2026, 11, 23, 21, 30, tzinfo=NEW_YORK)

    decision = decide(lead, "call", utc(late))

    assert codes(decision) == ["outside_federal_hours"]
    assert decision.next_allowed_at == utc(datetime.datetime(2026, 11, 24, 8, 0, tzinfo=NEW_YORK))
    assert "9:30 PM" in decision.reasons[0].message


def test_florida_closes_at_8pm():
    decision = decide(consented_lead(), "sms", utc(MONDAY_10AM.replace(hour=20, minute=15)))

    assert codes(decision) == ["outside_state_hours"]
    assert decision.next_allowed_at == utc(datetime.datetime(2026, 11, 24, 8, 0, tzinfo=NEW_YORK))


def test_a_florida_area_code_counts_as_florida():
    lead = consented_lead(state="GA", zip_code="30303", phone="+13055550177")

    decision = decide(lead, "call", utc(MONDAY_10AM.replace(hour=20, minute=30)))

    assert "outside_state_hours" in codes(decision)
    assert "Florida" in " ".join(r.message for r in decision.reasons)


def test_zip_and_area_code_in_different_zones_allow_only_the_overlap():
    # A Chicago ZIP with a New York area code: 8:30 AM in New York is 7:30 AM in Chicago.
    lead = consented_lead(
        state="IL", zip_code="60601", phone="+12125550100", time_zone="America/Chicago",
        area_code_time_zones=["America/New_York"],
    )  # fmt: skip
    early = datetime.datetime(2026, 11, 23, 8, 30, tzinfo=NEW_YORK)

    decision = decide(lead, "call", utc(early))

    assert codes(decision) == ["outside_federal_hours"]
    assert "America/Chicago" in decision.reasons[0].message
    assert decision.next_allowed_at == utc(datetime.datetime(2026, 11, 23, 8, 0, tzinfo=CHICAGO))


def test_alabama_allows_no_sales_calls_on_sunday():
    lead = consented_lead(
        state="AL", zip_code="35203", phone="+12055550100", time_zone="America/Chicago"
    )
    sunday = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=CHICAGO)

    decision = decide(lead, "call", utc(sunday))

    assert set(codes(decision)) == {"sunday_ban"}
    assert "Sunday in Alabama" in decision.reasons[0].message
    assert decision.next_allowed_at == utc(datetime.datetime(2026, 11, 23, 8, 0, tzinfo=CHICAGO))


def test_alabama_allows_none_on_a_state_holiday():
    lead = consented_lead(
        state="AL", zip_code="35203", phone="+12055550100", time_zone="America/Chicago"
    )
    thanksgiving = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=CHICAGO)

    decision = decide(lead, "call", utc(thanksgiving))

    assert set(codes(decision)) == {"state_holiday"}
    assert "Thanksgiving" in decision.reasons[0].message
    assert decision.next_allowed_at > utc(thanksgiving)


def _calls(lead, hours_ago: list[float], channel="call", product=None):
    for hours in hours_ago:
        other = lead if product is None else LeadFactory(phone=lead.phone, product=product)
        ContactAttemptFactory(
            lead=other,
            channel=channel,
            direction=Direction.OUTBOUND,
            started_at=utc(MONDAY_10AM) - datetime.timedelta(hours=hours),
        )


def test_florida_caps_sales_calls_at_three_per_24_hours():
    lead = consented_lead()
    _calls(lead, [20, 5, 1])

    decision = decide(lead, "call", utc(MONDAY_10AM))

    assert codes(decision) == ["attempt_cap"]
    # The oldest of the three leaves the window 24 hours after it was made.
    assert decision.next_allowed_at == utc(MONDAY_10AM) + datetime.timedelta(hours=4)


def test_the_florida_cap_counts_calls_about_the_same_product_only():
    lead = consented_lead()
    _calls(lead, [20, 5], product="roofing")
    _calls(lead, [1])

    assert decide(lead, "call", utc(MONDAY_10AM)).allowed


def test_the_florida_cap_counts_every_lead_with_that_number():
    lead = consented_lead()
    _calls(lead, [20, 5, 1], product="solar")  # three other lead records, same number

    assert codes(decide(lead, "call", utc(MONDAY_10AM))) == ["attempt_cap"]


def test_maryland_counts_calls_and_texts_together():
    lead = consented_lead(state="MD", zip_code="21201", phone="+14105550100")
    _calls(lead, [3, 2])
    _calls(lead, [1], channel="sms")

    decision = decide(lead, "sms", utc(MONDAY_10AM))

    assert codes(decision) == ["attempt_cap"]


def test_everyone_else_has_the_configured_cap(settings):
    settings.COMPLIANCE_DEFAULT_ATTEMPT_CAP = 2
    lead = consented_lead(state="OH", zip_code="43215", phone="+16145550100")
    _calls(lead, [3, 1])

    assert codes(decide(lead, "call", utc(MONDAY_10AM))) == ["attempt_cap"]


def test_a_capped_lead_opens_at_the_first_lawful_hour_after_the_cap():
    lead = consented_lead()
    evening = MONDAY_10AM.replace(hour=19)
    _calls(lead, [-6.5, -8.5, -8.9])  # made at 4:30, 6:30 and 6:54 PM

    decision = decide(lead, "call", utc(evening))

    # The cap frees a slot at 4:30 PM tomorrow; that is within Florida's hours.
    assert decision.next_allowed_at == utc(datetime.datetime(2026, 11, 24, 16, 30, tzinfo=NEW_YORK))


def test_marketing_email_needs_the_postal_address(settings):
    lead = consented_lead()
    settings.BUSINESS_POSTAL_ADDRESS = ""

    decision = decide(lead, "email", utc(MONDAY_10AM))

    assert codes(decision) == ["email_not_ready"]


def test_marketing_email_ignores_calling_hours():
    lead = consented_lead()

    assert decide(lead, "email", utc(MONDAY_10AM.replace(hour=23))).allowed


def test_a_lead_without_an_email_cannot_be_emailed():
    assert codes(decide(consented_lead(email=""), "email", utc(MONDAY_10AM))) == ["no_email"]


@pytest.mark.parametrize("chunk", [1000, 7], ids=["one chunk", "several chunks"])
def test_decide_many_agrees_with_decide(fresh_registry, monkeypatch, chunk):
    monkeypatch.setattr(gate, "CHUNK", chunk)
    leads = [consented_lead(phone=f"+1305555{n:04d}") for n in range(5)]
    suppression_add(origin=SuppressionOrigin.MANAGER, phone=str(leads[1].phone))
    _calls(leads[2], [3, 2, 1])
    requests = [
        (lead, channel, utc(MONDAY_10AM.replace(hour=hour)))
        for lead in leads
        for channel in ("call", "sms", "email")
        for hour in (7, 12, 20)
    ]

    many = decide_many(requests)

    assert many == [decide(lead, channel, at) for lead, channel, at in requests]
    assert any(d.allowed for d in many) and not all(d.allowed for d in many)


def test_every_decision_is_recorded_with_its_reasons():
    lead = florida_lead()

    decision, record = contact_check(lead=lead, channel="sms", stage=DecisionStage.SCHEDULED)

    record.refresh_from_db()
    assert not decision.allowed
    assert record.first_reason == "no_consent"
    assert record.reasons[0]["code"] == "no_consent"
    assert record.reasons[0]["message"].startswith("No texts")


def test_replying_start_after_stop_resubscribes_texts_only():
    lead = consented_lead()
    stop = utc(MONDAY_10AM) - datetime.timedelta(hours=2)
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone=str(lead.phone), received_at=stop)
    ConsentRecordFactory(
        lead=lead,
        channels=["sms"],
        capture_method="sms_keyword",
        disclosure_text='Replied "START" to Brightside Home Services asking for texts again.',
        captured_at=stop + datetime.timedelta(hours=1),
    )

    assert decide(lead, "sms", utc(MONDAY_10AM)).allowed
    assert "opted_out" in codes(decide(lead, "call", utc(MONDAY_10AM)))


def test_an_opt_out_binds_a_number_outside_the_numbering_plan_too():
    # 555-01xx numbers are fictional: stored as given, and matched as stored.
    lead = consented_lead(phone="+15555550100")
    suppression_add(origin=SuppressionOrigin.SMS_KEYWORD, phone="+15555550100")

    assert codes(decide(lead, "sms", utc(MONDAY_10AM)))[0] == "opted_out"
