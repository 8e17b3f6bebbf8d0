"""Whether this is a lawful hour to call or text a lead, and if not, when it next will be."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from compliance.reasons import Reason, ReasonCode
from compliance.rules import (
    FEDERAL_WINDOW,
    HOURS_CHANNELS,
    STATE_RULES,
    StateRule,
    clock,
    state_holiday,
)
from leads.choices import Channel, USState

SEARCH_HORIZON = timedelta(days=14)
CHANNELS = frozenset(Channel.values)  # Choices' .values builds a new list on every access
# How a message names the contact: "Florida allows calls ...", "no sales calls on Sundays".
_NOUNS = {
    Channel.CALL: ("calls", "sales calls"),
    Channel.SMS: ("marketing texts", "marketing texts"),
}


@dataclass(frozen=True)
class HoursCheck:
    allowed: bool
    reasons: list[Reason]
    next_allowed_at: datetime | None


def hours_check(
    *, zones: Iterable[str], states: Iterable[str], at: datetime, channel: str
) -> HoursCheck:
    """Check `at` against federal hours and every candidate state's rules in every candidate zone.

    Conservative on purpose: each state's window applies in each zone (the ZIP's zone and the
    area code's zones may differ), so contact is allowed only where all of them overlap.
    `next_allowed_at` is the first instant within 14 days at which this check would pass.
    """
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}.")
    if at.utcoffset() is None:
        raise ValueError("`at` must be an aware datetime.")
    if channel not in HOURS_CHANNELS:
        return HoursCheck(allowed=True, reasons=[], next_allowed_at=None)

    tzs, unknown = _load_zones(frozenset(zones))
    if unknown or not tzs:
        return HoursCheck(allowed=False, reasons=[_no_time_zone(unknown)], next_allowed_at=None)

    rules = _rules_for(frozenset(states))
    if _allowed_at(tzs, rules, at):
        return HoursCheck(allowed=True, reasons=[], next_allowed_at=None)
    return HoursCheck(
        allowed=False,
        reasons=_violations(tzs, rules, at, _NOUNS[channel]),
        next_allowed_at=_next_allowed(tzs, rules, at),
    )


def hours_open_until(
    *, zones: Iterable[str], states: Iterable[str], at: datetime, channel: str
) -> datetime | None:
    """Return the first instant after `at` at which `hours_check` stops passing, for an `at`
    at which it passes; None when no calling hours apply to the channel.

    Allowed time is a union of spans that each close when some zone's clock reaches some
    window's end, so testing those instants in order finds the close exactly.
    """
    if channel not in HOURS_CHANNELS:
        return None
    tzs, unknown = _load_zones(frozenset(zones))
    if unknown or not tzs:
        return at
    rules = _rules_for(frozenset(states))
    windows = [FEDERAL_WINDOW] + [
        window
        for rule in rules
        for window in (rule.weekday_window, rule.saturday_window, rule.sunday_window)
        if window is not None
    ]
    ends = sorted({window.end for window in windows})
    candidates = sorted(
        instant
        for tz in tzs
        for offset in (0, 1)
        for end in ends
        if (
            instant := datetime.combine(
                at.astimezone(tz).date() + timedelta(days=offset), end, tzinfo=tz
            ).astimezone(UTC)
        )
        > at
    )
    for instant in candidates:
        if not _allowed_at(tzs, rules, instant):
            return instant
    return at + timedelta(days=1)  # windows end every day; this is never reached


@lru_cache(maxsize=1024)
def _rules_for(states: frozenset[str]) -> list[StateRule]:
    codes = sorted({state.upper() for state in states})
    return [STATE_RULES[code] for code in codes if code in STATE_RULES]


@lru_cache(maxsize=1024)
def _load_zones(names: frozenset[str]) -> tuple[list[ZoneInfo], list[str]]:
    tzs, unknown = [], []
    for name in sorted(names):
        try:
            tzs.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            unknown.append(name)
    return tzs, unknown


def _no_time_zone(unknown: list[str]) -> Reason:
    if unknown:
        message = (
            f"We don't recognise the time zone {', '.join(unknown)}, so we can't tell the "
            "lead's local time. Check the lead's ZIP code and phone number."
        )
    else:
        message = (
            "We don't know this lead's time zone, so we can't tell whether it is a lawful hour. "
            "Add a ZIP code or check the phone number."
        )
    return Reason(code=ReasonCode.NO_TIME_ZONE, message=message)


def _allowed_at(tzs: list[ZoneInfo], rules: list[StateRule], at: datetime) -> bool:
    """True when `_violations` would find nothing; without writing any message."""
    for tz in tzs:
        local = at.astimezone(tz)
        now, day = local.time(), local.date()
        if not FEDERAL_WINDOW.contains(now):
            return False
        for rule in rules:
            if state_holiday(rule.state, day):
                return False
            window = rule.window_on(day)
            if window is None or not window.contains(now):
                return False
    return True


def _violations(
    tzs: list[ZoneInfo], rules: list[StateRule], at: datetime, nouns: tuple[str, str]
) -> list[Reason]:
    reasons: list[Reason] = []
    for tz in tzs:
        local = at.astimezone(tz)
        if not FEDERAL_WINDOW.contains(local.time()):
            reasons.append(
                Reason(
                    code=ReasonCode.OUTSIDE_FEDERAL_HOURS,
                    message=(
                        f"It is {clock(local.time())} in {tz.key}; federal rules allow {nouns[0]} "
                        f"{FEDERAL_WINDOW} local time."
                    ),
                )
            )
        reasons.extend(
            reason for rule in rules if (reason := _state_violation(rule, local, tz.key, nouns))
        )
    # Two zones on the same Sunday or holiday give the same reason; say it once.
    return list(dict.fromkeys(reasons))


def _state_violation(
    rule: StateRule, local: datetime, zone: str, nouns: tuple[str, str]
) -> Reason | None:
    name = USState(rule.state).label
    day = local.date()
    if holiday := state_holiday(rule.state, day):
        return Reason(
            code=ReasonCode.STATE_HOLIDAY,
            message=f"{holiday} in {name}: no {nouns[1]} on state holidays.",
        )
    window = rule.window_on(day)
    if window is None:
        return Reason(
            code=ReasonCode.SUNDAY_BAN if day.weekday() == 6 else ReasonCode.OUTSIDE_STATE_HOURS,
            message=f"{day:%A} in {name}: no {nouns[1]} on {day:%A}s.",
        )
    if window.contains(local.time()):
        return None
    when = "" if rule.same_every_day else f" on {day:%A}"
    kind = "" if rule.same_every_day else f" on {_day_kind(day)}"
    return Reason(
        code=ReasonCode.OUTSIDE_STATE_HOURS,
        message=(
            f"It is {clock(local.time())}{when} in {name} ({zone}); "
            f"{name} allows {nouns[0]} {window}{kind}."
        ),
    )


def _day_kind(day: date) -> str:
    return {5: "Saturdays", 6: "Sundays"}.get(day.weekday(), "weekdays")


def _next_allowed(tzs: list[ZoneInfo], rules: list[StateRule], at: datetime) -> datetime | None:
    # Allowed time is a union of spans that each open when some zone's clock reaches some
    # window's start (midnight and DST changes fall outside every window), so testing those
    # instants in order finds the first allowed one exactly. They are made a local day at a
    # time: every instant before the next day's earliest start has been made by then.
    windows = [FEDERAL_WINDOW] + [
        window
        for rule in rules
        for window in (rule.weekday_window, rule.saturday_window, rule.sunday_window)
        if window is not None
    ]
    starts = sorted({window.start for window in windows})
    horizon = at + SEARCH_HORIZON
    first_days = [(tz, at.astimezone(tz).date()) for tz in tzs]

    def instants_on(offset: int) -> set[datetime]:
        return {
            instant
            for tz, first_day in first_days
            for start in starts
            if at
            < (
                instant := datetime.combine(
                    first_day + timedelta(days=offset), start, tzinfo=tz
                ).astimezone(UTC)
            )
            <= horizon
        }

    pending: set[datetime] = set()
    for offset in range(SEARCH_HORIZON.days + 2):
        pending |= instants_on(offset)
        bound = min(
            datetime.combine(first_day + timedelta(days=offset + 1), starts[0], tzinfo=tz)
            for tz, first_day in first_days
        ).astimezone(UTC)
        for instant in sorted(instant for instant in pending if instant < bound):
            if _allowed_at(tzs, rules, instant):
                return instant
            pending.discard(instant)
    return None
