"""Calling-hours, holiday and attempt-cap rules, kept as data that the admin can show as a table.

Each row cites the law it comes from. "verify" marks a row or citation not yet checked against
the current official text. A summary of public sources, not legal advice.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

import holidays
from django.conf import settings

# Hours rules cover calls and marketing texts; email has none.
HOURS_CHANNELS = frozenset({"call", "sms"})
CALLS = frozenset({"call"})
CALLS_AND_TEXTS = frozenset({"call", "sms"})


@dataclass(frozen=True)
class Window:
    """A span of local clock time: start included, end excluded (21:00 itself is too late)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{clock(self.start)} to {clock(self.end)}"


def clock(moment: time) -> str:
    """Format a time the way a rep reads it: 8:00 AM, 12:00 PM, 9:00 PM."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def _w(start: str, end: str) -> Window:
    return Window(time.fromisoformat(start), time.fromisoformat(end))


@dataclass(frozen=True)
class AttemptCap:
    """At most `limit` marketing attempts on `channels` within a rolling `window`.

    `state` is None for Leadline's default cap, which covers states without one of their own.
    `same_product` means only attempts about the same product or subject count together.
    """

    state: str | None
    limit: int
    channels: frozenset[str]
    same_product: bool
    citation: str
    window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class StateRule:
    """A state's calling window per kind of day; a window of None means no calls that day."""

    state: str
    weekday_window: Window
    saturday_window: Window | None
    sunday_window: Window | None
    holiday_ban: bool
    citation: str
    attempt_cap: AttemptCap | None = None

    def window_on(self, day: date) -> Window | None:
        """Return the window for this calendar day (holidays aside)."""
        if day.weekday() == 5:
            return self.saturday_window
        if day.weekday() == 6:
            return self.sunday_window
        return self.weekday_window

    @property
    def same_every_day(self) -> bool:
        return self.weekday_window == self.saturday_window == self.sunday_window


# 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. at the called
# party's location. Applied to marketing texts too: class actions since 2024 say it covers them.
FEDERAL_WINDOW = _w("08:00", "21:00")
FEDERAL_CITATION = "47 CFR 64.1200(c)(1)"

_8_TO_8 = _w("08:00", "20:00")
_8_TO_9 = _w("08:00", "21:00")
_9_TO_8 = _w("09:00", "20:00")
_9_TO_9 = _w("09:00", "21:00")

# fmt: off
STATE_RULES: dict[str, StateRule] = {rule.state: rule for rule in (
    #         state  Mon-Fri   Saturday  Sunday    holidays
    StateRule("FL",  _8_TO_8,  _8_TO_8,  _8_TO_8,  False, "Fla. Stat. §501.616(6)(a)",
              AttemptCap("FL", 3, CALLS, True, "Fla. Stat. §501.616(6)(b)")),
    StateRule("OK",  _8_TO_8,  _8_TO_8,  _8_TO_8,  False, "Okla. Stat. tit. 15, §775C.4",
              AttemptCap("OK", 3, CALLS, True, "Okla. Stat. tit. 15, §775C.4")),
    # Stop the Spam Calls Act of 2023, in force 1 Jan 2024; covers texts. Section: verify.
    StateRule("MD",  _8_TO_8,  _8_TO_8,  _8_TO_8,  False, "Md. Code, Com. Law §14-4503",
              AttemptCap("MD", 3, CALLS_AND_TEXTS, True, "Md. Code, Com. Law §14-4503")),
    StateRule("WA",  _8_TO_8,  _8_TO_8,  _8_TO_8,  False, "RCW 80.36.390"),
    # SB 140 (eff. 1 Sep 2025) brought texts into Texas's telephone-solicitation law: verify
    # that it reaches the hours in §301.051.
    StateRule("TX",  _9_TO_9,  _9_TO_9,  _w("12:00", "21:00"), False,
              "Tex. Bus. & Com. Code §301.051; texts: SB 140 (2025)"),
    # The PSC rule's words cover automated calls; applied to all calls and texts.
    StateRule("AL",  _8_TO_8,  _8_TO_8,  None,     True,  "Ala. Admin. Code r. 770-X-5-.17(1)(b)"),
    StateRule("LA",  _8_TO_8,  _8_TO_8,  None,     True,  "La. R.S. 45:811; LPSC Order R-29617"),
    # The statute says "Central Standard Time"; applied as local time (CDT in summer): verify.
    # Holiday ban: industry practice, no statute found yet: verify.
    StateRule("MS",  _8_TO_8,  _8_TO_8,  None,     True,  "Miss. Code §77-3-723"),
    StateRule("RI",  _w("09:00", "18:00"), _w("10:00", "17:00"), None, True,
              "R.I. Gen. Laws §5-61-3.6, §5-61-2(2)"),
    StateRule("UT",  _8_TO_9,  _8_TO_9,  None,     True,  "Utah Code §13-25a-103(3)"),
    # Holiday ban added by Act 73 of 2019. No Sunday rule in the Act as we read it: verify.
    StateRule("PA",  _8_TO_9,  _8_TO_9,  _8_TO_9,  True,  "73 P.S. §2245(a)(1), (a)(10)"),
    # Stricter windows from industry tables; the section numbers need checking: verify.
    StateRule("CT",  _9_TO_8,  _9_TO_8,  _9_TO_8,  False, "Conn. Gen. Stat. §42-288a (verify)"),
    StateRule("KY",  _w("10:00", "21:00"), _w("10:00", "21:00"), _w("10:00", "21:00"), False,
              "Ky. Rev. Stat. §367.46955 (verify)"),
    StateRule("MI",  _9_TO_9,  _9_TO_9,  _9_TO_9,  False, "Mich. Comp. Laws §445.111b (verify)"),
    StateRule("MN",  _9_TO_9,  _9_TO_9,  _9_TO_9,  False, "Minn. Stat. §325E.27 (verify)"),
    StateRule("NM",  _9_TO_9,  _9_TO_9,  _9_TO_9,  False, "N.M. Stat. §57-12-22 (verify)"),
    StateRule("NV",  _9_TO_8,  _9_TO_8,  _9_TO_8,  False, "Nev. Rev. Stat. ch. 599B (verify)"),
    StateRule("MA",  _8_TO_8,  _8_TO_8,  _8_TO_8,  False, "Mass. Gen. Laws ch. 159C §3 (verify)"),
)}
# fmt: on


@lru_cache(maxsize=256)
def _holidays(state: str, year: int) -> dict[date, str]:
    # Public and state-government holidays, with observed days for weekend ones (AL, MS shift
    # them by statute); both the day itself and the observed day are banned.
    found = holidays.country_holidays(
        "US", subdiv=state, years=year, categories=("public", "government")
    )
    return dict(found.items())


def state_holiday(state: str, day: date) -> str | None:
    """Return the holiday's name when `state` bans calls on `day`, else None."""
    rule = STATE_RULES.get(state)
    if rule is None or not rule.holiday_ban:
        return None
    return _holidays(state, day.year).get(day)


def default_attempt_cap() -> AttemptCap:
    """Leadline's own cap for states without one, read from settings at call time."""
    return AttemptCap(
        state=None,
        limit=getattr(settings, "COMPLIANCE_DEFAULT_ATTEMPT_CAP", 6),
        channels=CALLS_AND_TEXTS,
        same_product=False,
        citation="Leadline policy (COMPLIANCE_DEFAULT_ATTEMPT_CAP)",
    )


def attempt_caps_for(states: Iterable[str]) -> list[AttemptCap]:
    """Return every cap that binds a lead with these candidate states.

    Each state's own cap, plus the default cap when any state (or no state at all) has none.
    """
    codes = frozenset(code.upper() for code in states)
    return list(_caps_for(codes, getattr(settings, "COMPLIANCE_DEFAULT_ATTEMPT_CAP", 6)))


@lru_cache(maxsize=1024)  # the setting is part of the key, so a changed cap is seen at once
def _caps_for(codes: frozenset[str], default_limit: int) -> tuple[AttemptCap, ...]:
    caps = [_own_cap(code) for code in sorted(codes)]
    binding = [cap for cap in caps if cap is not None]
    if not caps or None in caps:
        binding.append(default_attempt_cap())
    return tuple(binding)


def _own_cap(state: str) -> AttemptCap | None:
    rule = STATE_RULES.get(state)
    return rule.attempt_cap if rule else None
