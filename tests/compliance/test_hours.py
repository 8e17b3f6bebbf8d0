"""Calling hours: federal and state windows, Sunday and holiday bans, and the next lawful time."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.hours import hours_check
from compliance.rules import STATE_RULES, attempt_caps_for

NY = "America/New_York"
CHI = "America/Chicago"
DEN = "America/Denver"
PHX = "America/Phoenix"
LAX = "America/Los_Angeles"


def utc(year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


FED, STATE, SUNDAY, HOLIDAY = (
    "outside_federal_hours",
    "outside_state_hours",
    "sunday_ban",
    "state_holiday",
)

# (case, zones, states, at, reason codes (none = allowed), next_allowed_at)
# 2026-06-10 is a Wednesday; 2026-06-13/14 are Saturday/Sunday. New York is UTC-4 in June,
# Chicago UTC-5, Denver UTC-6, Phoenix UTC-7 all year, Los Angeles UTC-7.
# fmt: off
CASES = [
    # Federal 8 AM to 9 PM, no state rule.
    ("federal 7:59", [NY], [], utc(2026, 6, 10, 11, 59), [FED], utc(2026, 6, 10, 12)),
    ("federal 8:00", [NY], [], utc(2026, 6, 10, 12), [], None),
    ("federal 20:59", [NY], [], utc(2026, 6, 11, 0, 59), [], None),
    ("federal 21:00", [NY], [], utc(2026, 6, 11, 1), [FED], utc(2026, 6, 11, 12)),
    ("GA has no rule of its own", [NY], ["GA"], utc(2026, 6, 11, 0, 30), [], None),
    # 8 PM closes.
    ("FL 19:59", [NY], ["FL"], utc(2026, 6, 10, 23, 59), [], None),
    ("FL 20:00", [NY], ["FL"], utc(2026, 6, 11, 0), [STATE], utc(2026, 6, 11, 12)),
    ("OK 19:59", [CHI], ["OK"], utc(2026, 6, 11, 0, 59), [], None),
    ("OK 20:00", [CHI], ["OK"], utc(2026, 6, 11, 1), [STATE], utc(2026, 6, 11, 13)),
    ("MD 20:00", [NY], ["MD"], utc(2026, 6, 11, 0), [STATE], utc(2026, 6, 11, 12)),
    ("WA 19:59", [LAX], ["WA"], utc(2026, 6, 11, 2, 59), [], None),
    ("WA 20:00", [LAX], ["WA"], utc(2026, 6, 11, 3), [STATE], utc(2026, 6, 11, 15)),
    ("lowercase state", [NY], ["fl"], utc(2026, 6, 11, 0), [STATE], utc(2026, 6, 11, 12)),
    # Texas: 9 AM Monday to Saturday, noon on Sunday.
    ("TX Sunday 11:59", [CHI], ["TX"], utc(2026, 6, 14, 16, 59), [STATE], utc(2026, 6, 14, 17)),
    ("TX Sunday 12:00", [CHI], ["TX"], utc(2026, 6, 14, 17), [], None),
    ("TX Monday 8:30", [CHI], ["TX"], utc(2026, 6, 15, 13, 30), [STATE], utc(2026, 6, 15, 14)),
    ("TX Saturday 20:59", [CHI], ["TX"], utc(2026, 6, 14, 1, 59), [], None),
    # No Sundays.
    ("AL Sunday", [CHI], ["AL"], utc(2026, 6, 14, 15), [SUNDAY], utc(2026, 6, 15, 13)),
    ("LA Sunday", [CHI], ["LA"], utc(2026, 6, 14, 15), [SUNDAY], utc(2026, 6, 15, 13)),
    ("MS Sunday", [CHI], ["MS"], utc(2026, 6, 14, 15), [SUNDAY], utc(2026, 6, 15, 13)),
    ("UT Sunday", [DEN], ["UT"], utc(2026, 6, 14, 16), [SUNDAY], utc(2026, 6, 15, 14)),
    ("AL Saturday 19:59", [CHI], ["AL"], utc(2026, 6, 14, 0, 59), [], None),
    # State holidays.
    ("AL Christmas", [CHI], ["AL"], utc(2026, 12, 25, 15), [HOLIDAY], utc(2026, 12, 26, 14)),
    ("LA Mardi Gras 2027", [CHI], ["LA"], utc(2027, 2, 9, 16), [HOLIDAY], utc(2027, 2, 10, 14)),
    ("LA Ash Wednesday", [CHI], ["LA"], utc(2027, 2, 10, 14), [], None),
    ("UT Pioneer Day", [DEN], ["UT"], utc(2026, 7, 24, 16), [HOLIDAY], utc(2026, 7, 25, 14)),
    # 4 July 2026 is a Saturday, observed on Friday the 3rd: both days are banned.
    ("AL July 3 (observed)", [CHI], ["AL"], utc(2026, 7, 3, 15), [HOLIDAY], utc(2026, 7, 6, 13)),
    ("PA July 3 (observed)", [NY], ["PA"], utc(2026, 7, 3, 14), [HOLIDAY], utc(2026, 7, 5, 12)),
    # 1 Jan 2028 is a Saturday, observed on Friday 31 Dec 2027.
    ("UT New Year observed", [DEN], ["UT"], utc(2027, 12, 31, 18), [HOLIDAY], utc(2028, 1, 3, 15)),
    ("FL has no holiday ban", [NY], ["FL"], utc(2026, 12, 25, 15), [], None),
    # Rhode Island: 9 to 6 on weekdays, 10 to 5 on Saturday, no Sundays.
    ("RI weekday 17:59", [NY], ["RI"], utc(2026, 6, 10, 21, 59), [], None),
    ("RI weekday 18:00", [NY], ["RI"], utc(2026, 6, 10, 22), [STATE], utc(2026, 6, 11, 13)),
    ("RI weekday 8:30", [NY], ["RI"], utc(2026, 6, 10, 12, 30), [STATE], utc(2026, 6, 10, 13)),
    ("RI Saturday 9:30", [NY], ["RI"], utc(2026, 6, 13, 13, 30), [STATE], utc(2026, 6, 13, 14)),
    ("RI Saturday 17:00", [NY], ["RI"], utc(2026, 6, 13, 21), [STATE], utc(2026, 6, 15, 13)),
    ("RI Sunday", [NY], ["RI"], utc(2026, 6, 14, 15), [SUNDAY], utc(2026, 6, 15, 13)),
    # DST: 8:00 in New York is 13:00 UTC in winter and 12:00 UTC in summer.
    ("NY 7 Mar 7:30 EST", [NY], [], utc(2026, 3, 7, 12, 30), [FED], utc(2026, 3, 7, 13)),
    ("NY 8 Mar 20:59 EST", [NY], [], utc(2026, 3, 8, 1, 59), [], None),
    ("NY 8 Mar 7:59 EDT", [NY], [], utc(2026, 3, 8, 11, 59), [FED], utc(2026, 3, 8, 12)),
    ("NY 8 Mar 8:00 EDT", [NY], [], utc(2026, 3, 8, 12), [], None),
    ("NY 31 Oct 8:30 EDT", [NY], [], utc(2026, 10, 31, 12, 30), [], None),
    ("NY 1 Nov 7:30 EST", [NY], [], utc(2026, 11, 1, 12, 30), [FED], utc(2026, 11, 1, 13)),
    # Arizona keeps standard time; Denver does not.
    ("Phoenix July 7:30", [PHX], [], utc(2026, 7, 15, 14, 30), [FED], utc(2026, 7, 15, 15)),
    ("Denver July 8:30", [DEN], [], utc(2026, 7, 15, 14, 30), [], None),
    ("Denver January 7:30", [DEN], [], utc(2026, 1, 14, 14, 30), [FED], utc(2026, 1, 14, 15)),
    ("Phoenix+Denver 21:00 MDT", [PHX, DEN], [], utc(2026, 7, 16, 3), [FED], utc(2026, 7, 16, 15)),
    ("Phoenix+Denver 20:30 MDT", [PHX, DEN], [], utc(2026, 7, 16, 2, 30), [], None),
    # ZIP in Chicago, area code in New York: only the overlap, 9 AM to 9 PM Eastern.
    ("ZIP/area code 8:30 ET", [CHI, NY], [], utc(2026, 1, 14, 13, 30), [FED], utc(2026, 1, 14, 14)),
    ("ZIP/area code 20:30 ET", [CHI, NY], [], utc(2026, 1, 15, 1, 30), [], None),
    ("ZIP/area code 21:00 ET", [CHI, NY], [], utc(2026, 1, 15, 2), [FED], utc(2026, 1, 15, 14)),
    # Area code 850 spans Central and Eastern Florida.
    ("850 7:30 ET", [CHI, NY], ["FL"], utc(2026, 1, 14, 12, 30), [FED, STATE],
     utc(2026, 1, 14, 14)),
    ("850 19:59 ET", [CHI, NY], ["FL"], utc(2026, 1, 15, 0, 59), [], None),
    ("850 20:00 ET", [CHI, NY], ["FL"], utc(2026, 1, 15, 1), [STATE], utc(2026, 1, 15, 14)),
    # Several states at once: each one's rule, in each zone.
    ("FL+TX Sunday", [NY, CHI], ["FL", "TX"], utc(2026, 6, 14, 15), [STATE], utc(2026, 6, 14, 17)),
    ("AL+PA 4 July", [CHI], ["AL", "PA"], utc(2026, 7, 4, 15), [HOLIDAY], utc(2026, 7, 6, 13)),
]
# fmt: on


@pytest.mark.parametrize("channel", ["call", "sms"])
@pytest.mark.parametrize(
    ("zones", "states", "at", "codes", "next_allowed_at"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_hours_check(zones, states, at, codes, next_allowed_at, channel):
    check = hours_check(zones=zones, states=states, at=at, channel=channel)

    assert check.allowed is not codes
    assert sorted({reason.code for reason in check.reasons}) == sorted(codes)
    assert check.next_allowed_at == next_allowed_at
    if next_allowed_at is not None:
        assert hours_check(zones=zones, states=states, at=next_allowed_at, channel=channel).allowed
        just_before = next_allowed_at - timedelta(seconds=1)
        assert not hours_check(zones=zones, states=states, at=just_before, channel=channel).allowed


def test_messages_are_plain_english():
    evening = hours_check(zones=[NY], states=["FL"], at=utc(2026, 6, 11, 0, 12), channel="call")
    sunday = hours_check(zones=[CHI], states=["AL"], at=utc(2026, 6, 14, 15), channel="sms")
    texas = hours_check(zones=[CHI], states=["TX"], at=utc(2026, 6, 14, 16, 15), channel="call")
    christmas = hours_check(zones=[CHI], states=["AL"], at=utc(2026, 12, 25, 15), channel="call")
    early = hours_check(zones=[NY], states=[], at=utc(2026, 6, 10, 11, 42), channel="call")

    assert [r.message for r in evening.reasons] == [
        "It is 8:12 PM in Florida (America/New_York); Florida allows calls 8:00 AM to 8:00 PM."
    ]
    assert [r.message for r in sunday.reasons] == [
        "Sunday in Alabama: no marketing texts on Sundays."
    ]
    assert [r.message for r in texas.reasons] == [
        "It is 11:15 AM on Sunday in Texas (America/Chicago); "
        "Texas allows calls 12:00 PM to 9:00 PM on Sundays."
    ]
    assert [r.message for r in christmas.reasons] == [
        "Christmas Day in Alabama: no sales calls on state holidays."
    ]
    assert [r.message for r in early.reasons] == [
        "It is 7:42 AM in America/New_York; "
        "federal rules allow calls 8:00 AM to 9:00 PM local time."
    ]


def test_a_ban_seen_from_two_zones_is_reported_once():
    check = hours_check(zones=[CHI, NY], states=["AL"], at=utc(2026, 6, 14, 16), channel="call")

    assert [reason.message for reason in check.reasons] == [
        "Sunday in Alabama: no sales calls on Sundays."
    ]


@pytest.mark.parametrize("zones", [[], [NY]])
def test_email_is_never_restricted_by_hours(zones):
    check = hours_check(zones=zones, states=["AL"], at=utc(2026, 6, 14, 7), channel="email")

    assert check.allowed
    assert check.reasons == []
    assert check.next_allowed_at is None


@pytest.mark.parametrize("channel", ["call", "sms"])
def test_no_time_zone_blocks_calls_and_texts(channel):
    check = hours_check(zones=[], states=["FL"], at=utc(2026, 6, 10, 16), channel=channel)

    assert not check.allowed
    assert [reason.code for reason in check.reasons] == ["no_time_zone"]
    assert check.next_allowed_at is None


def test_an_unknown_zone_blocks_rather_than_guessing():
    check = hours_check(
        zones=[NY, "Mars/Olympus"], states=[], at=utc(2026, 6, 10, 16), channel="call"
    )

    assert not check.allowed
    assert [reason.code for reason in check.reasons] == ["no_time_zone"]
    assert "Mars/Olympus" in check.reasons[0].message


def test_naive_datetime_and_unknown_channel_are_refused():
    with pytest.raises(ValueError, match="aware"):
        hours_check(zones=[NY], states=[], at=datetime(2026, 6, 10, 16), channel="call")
    with pytest.raises(ValueError, match="channel"):
        hours_check(zones=[NY], states=[], at=utc(2026, 6, 10, 16), channel="fax")


def test_attempt_caps_state_caps_plus_default_for_the_rest(settings):
    settings.COMPLIANCE_DEFAULT_ATTEMPT_CAP = 4

    caps = attempt_caps_for({"FL", "GA"})

    assert [(cap.state, cap.limit, sorted(cap.channels), cap.same_product) for cap in caps] == [
        ("FL", 3, ["call"], True),
        (None, 4, ["call", "sms"], False),
    ]
    assert all(cap.window == timedelta(hours=24) for cap in caps)


def test_attempt_caps_maryland_counts_calls_and_texts_together():
    (cap,) = attempt_caps_for({"MD"})

    assert (cap.limit, sorted(cap.channels)) == (3, ["call", "sms"])
    assert "14-4503" in cap.citation


def test_attempt_caps_default_when_no_state_is_known(settings):
    del settings.COMPLIANCE_DEFAULT_ATTEMPT_CAP

    assert [(cap.state, cap.limit) for cap in attempt_caps_for(set())] == [(None, 6)]
    assert [cap.state for cap in attempt_caps_for({"fl", "ok"})] == ["FL", "OK"]


# Property tests over random leads and instants.
ZONES = [
    NY,
    CHI,
    DEN,
    PHX,
    LAX,
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Indiana/Indianapolis",
]
STATES = [*STATE_RULES, "GA", "NY", "CA", "AZ"]
BANNED_HOLIDAYS = sorted(
    {
        day
        for state, rule in STATE_RULES.items()
        if rule.holiday_ban
        for day in holidays.country_holidays(
            "US", subdiv=state, years=range(2026, 2029), categories=("public", "government")
        )
    }
)
any_instant = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59),
    timezones=st.just(UTC),
)
# Holidays are rare among random instants, so draw half the instants from holiday dates.
holiday_instant = st.builds(
    lambda day, minutes: datetime.combine(day, time(), UTC) + timedelta(minutes=minutes),
    st.sampled_from(BANNED_HOLIDAYS),
    st.integers(min_value=0, max_value=36 * 60),
)
leads = {
    "zones": st.sets(st.sampled_from(ZONES), min_size=1, max_size=3),
    "states": st.sets(st.sampled_from(STATES), max_size=3),
    "at": st.one_of(any_instant, holiday_instant),
    "channel": st.sampled_from(["call", "sms"]),
}
property_settings = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _banned_holiday(state, day):
    found = holidays.country_holidays(
        "US", subdiv=state, years=day.year, categories=("public", "government")
    )
    return day in found


@property_settings
@given(**leads)
def test_allowed_means_inside_every_window_in_every_zone(zones, states, at, channel):
    check = hours_check(zones=zones, states=states, at=at, channel=channel)

    if check.allowed:
        assert check.reasons == [] and check.next_allowed_at is None
        for zone in zones:
            local = at.astimezone(ZoneInfo(zone))
            assert time(8) <= local.time() < time(21)
            for state in states:
                rule = STATE_RULES.get(state)
                if rule is None:
                    continue
                window = rule.window_on(local.date())
                assert window is not None, f"{state} bans {local:%A}"
                assert window.start <= local.time() < window.end
                if rule.holiday_ban:
                    assert not _banned_holiday(state, local.date())
    else:
        assert check.reasons


@property_settings
@given(**leads)
def test_next_allowed_at_is_the_first_lawful_instant(zones, states, at, channel):
    check = hours_check(zones=zones, states=states, at=at, channel=channel)

    if check.allowed or check.next_allowed_at is None:
        return
    next_at = check.next_allowed_at
    assert at < next_at <= at + timedelta(days=14)
    assert hours_check(zones=zones, states=states, at=next_at, channel=channel).allowed
    # Nothing lawful in between: the instant just before is still blocked.
    just_before = max(at, next_at - timedelta(seconds=1))
    assert not hours_check(zones=zones, states=states, at=just_before, channel=channel).allowed
    # It lands on a boundary: a whole minute in every zone's local time.
    assert next_at.second == 0 and next_at.microsecond == 0
