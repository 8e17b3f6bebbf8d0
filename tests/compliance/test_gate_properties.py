"""Properties of the gate over random leads, channels and instants (rules only, no database)."""

import datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from compliance.gate.evaluate import (
    ConsentFacts,
    GateFacts,
    LeadFacts,
    Registry,
    SuppressionFacts,
    contact_evaluate,
)
from compliance.rules import FEDERAL_WINDOW, STATE_RULES, attempt_caps_for, state_holiday

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Detroit",
]
STATES = ["FL", "OK", "MD", "WA", "TX", "AL", "LA", "MS", "RI", "UT", "PA", "CT", "NY", "OH", "CA"]
SELLER = "Brightside Home Services"
instants = st.datetimes(
    min_value=datetime.datetime(2026, 1, 1),
    max_value=datetime.datetime(2028, 12, 31),
    timezones=st.just(datetime.UTC),
)


@st.composite
def gate_facts(draw):
    lead = LeadFacts(
        phone="+13055550100",
        email="lead@example.com",
        product=draw(st.sampled_from(["solar", "roofing"])),
        received_at=draw(instants),
    )
    facts = GateFacts(
        lead,
        zones=set(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3))),
        states=set(draw(st.lists(st.sampled_from(STATES), max_size=3))),
    )
    if draw(st.booleans()):
        facts.consents.append(
            ConsentFacts(
                channels=draw(st.lists(st.sampled_from(["call", "sms", "email"]), max_size=3)),
                seller_names=[SELLER] if draw(st.booleans()) else [],
                disclosure_text=draw(st.sampled_from(["", f"I agree that {SELLER} may call."])),
                captured_at=lead.received_at,
                capture_method="web_form",
                revoked_at=lead.received_at if draw(st.booleans()) else None,
            )
        )
    if draw(st.integers(0, 4)) == 0:
        facts.suppressions.append(
            SuppressionFacts(
                phone=lead.phone, email="", origin="sms_keyword", received_at=lead.received_at
            )
        )
    if draw(st.booleans()):
        facts.dnc_lists.append(("national", ""))
    return facts


@st.composite
def with_attempts(draw, facts, at):
    for _ in range(draw(st.integers(0, 7))):
        hours = draw(st.floats(0, 30, allow_nan=False))
        channel = draw(st.sampled_from(["call", "sms"]))
        product = draw(st.sampled_from(["solar", "roofing"]))
        facts.attempts.append((at - datetime.timedelta(hours=hours), channel, product))
    return facts


def _inside_every_window(facts, at, channel) -> bool:
    for zone in facts.zones:
        local = at.astimezone(ZoneInfo(zone))
        if not FEDERAL_WINDOW.contains(local.time()):
            return False
        for state in facts.states & set(STATE_RULES):
            rule = STATE_RULES[state]
            window = rule.window_on(local.date())
            if window is None or not window.contains(local.time()):
                return False
            if rule.holiday_ban and state_holiday(state, local.date()):
                return False
    return True


def _under_every_cap(facts, at, channel) -> bool:
    for cap in attempt_caps_for(facts.states):
        if channel not in cap.channels:
            continue
        counted = [
            started
            for started, attempt_channel, product in facts.attempts
            if attempt_channel in cap.channels
            and at - cap.window < started <= at
            and (not cap.same_product or product == facts.lead.product)
        ]
        if len(counted) >= cap.limit:
            return False
    return True


def evaluate_marketing(facts, channel, at, automated, registry):
    return contact_evaluate(
        facts=facts,
        channel=channel,
        at=at,
        purpose="marketing",
        automated=automated,
        registry=registry,
        email_problems=[],
    )


# The settings fixture is set once per test, to the same value for every example.
@hypothesis_settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    channel=st.sampled_from(["call", "sms"]),
    at=instants,
    automated=st.booleans(),
    registry_age=st.integers(0, 60),
)
def test_an_allowed_contact_is_lawful_in_every_way(
    data, channel, at, automated, registry_age, settings
):
    settings.SELLER_NAMES = [SELLER]
    facts = data.draw(with_attempts(data.draw(gate_facts()), at))
    registry = Registry(list_date=at.date() - datetime.timedelta(days=registry_age))

    decision = evaluate_marketing(facts, channel, at, automated, registry)

    if decision.allowed:
        assert not facts.suppressions
        assert _inside_every_window(facts, at, channel)
        assert _under_every_cap(facts, at, channel)
        assert decision.next_allowed_at is None
    elif decision.next_allowed_at is not None:
        assert decision.next_allowed_at > at
        later = evaluate_marketing(facts, channel, decision.next_allowed_at, automated, registry)
        assert later.allowed


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    zones=st.sets(st.sampled_from(ZONES), min_size=1, max_size=3),
    states=st.sets(st.sampled_from(STATES), max_size=2),
    at=instants,
    channel=st.sampled_from(["call", "sms"]),
)
def test_an_open_window_closes_exactly_where_the_hours_first_stop(zones, states, at, channel):
    from compliance.hours import hours_check, hours_open_until

    check = hours_check(zones=zones, states=states, at=at, channel=channel)
    start = at if check.allowed else check.next_allowed_at
    if start is None:
        return
    until = hours_open_until(zones=zones, states=states, at=start, channel=channel)
    assert until > start
    assert not hours_check(zones=zones, states=states, at=until, channel=channel).allowed
    # Allowed all the way there: checked every quarter hour and just before the close.
    moment = start
    while moment < until:
        assert hours_check(zones=zones, states=states, at=moment, channel=channel).allowed
        moment += datetime.timedelta(minutes=15)
    last = until - datetime.timedelta(seconds=1)
    assert hours_check(zones=zones, states=states, at=last, channel=channel).allowed
