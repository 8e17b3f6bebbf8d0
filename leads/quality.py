"""Quality flags: doubts about a lead raised at intake. Stored and shown; never a rejection."""

import datetime
import re
from enum import StrEnum
from functools import cache

from leads.normalize import PhoneResult
from leads.places import ZipLocation


class QualityFlag(StrEnum):
    FAKE_NAME = "fake_name"
    DISPOSABLE_EMAIL = "disposable_email"
    PHONE_STATE_MISMATCH = "phone_state_mismatch"
    REPEAT_PHONE = "repeat_phone"
    REPEAT_IP = "repeat_ip"


# Repeats: a phone on more than REPEAT_PHONE_LIMIT leads within REPEAT_WINDOW, or a consent
# IP on more than REPEAT_IP_LIMIT; counted where leads are stored (leads.intake.storage).
REPEAT_WINDOW = datetime.timedelta(hours=1)
REPEAT_PHONE_LIMIT = 3
REPEAT_IP_LIMIT = 5

FAKE_NAMES = {
    "test",
    "testing",
    "asdf",
    "qwerty",
    "fake",
    "none",
    "na",
    "n/a",
    "null",
    "unknown",
    "anonymous",
    "xxx",
    "abc",
    "john doe",
    "jane doe",
    "mickey mouse",
    "donald duck",
    "test test",
    "first last",
    "firstname lastname",
}
KEYBOARD_RUNS = ("qwert", "asdfg", "zxcvb", "hjkl", "uiop")
DIGIT_OR_REPEATED_CHARACTER = re.compile(r"\d|(.)\1{3,}")
KEYBOARD_RUN = re.compile("|".join(KEYBOARD_RUNS))


@cache
def _disposable_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def is_fake_name(first_name: str, last_name: str) -> bool:
    """Say whether a name is obviously not a person's."""
    first, last = first_name.strip().lower(), last_name.strip().lower()
    full = f"{first} {last}".strip()
    if not full:
        return False
    if full in FAKE_NAMES or first in FAKE_NAMES or last in FAKE_NAMES:
        return True
    if DIGIT_OR_REPEATED_CHARACTER.search(full) or KEYBOARD_RUN.search(full.replace(" ", "")):
        return True
    return bool(first and first == last and len(first) > 1)


def quality_flags(
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone_result: PhoneResult | None,
    zip_location: ZipLocation | None,
    state: str,
) -> list[str]:
    """Return the flags this lead's own data raises."""
    flags = []
    if is_fake_name(first_name, last_name):
        flags.append(QualityFlag.FAKE_NAME)
    if email and email.rpartition("@")[2] in _disposable_domains():
        flags.append(QualityFlag.DISPOSABLE_EMAIL)
    lead_state = zip_location.state if zip_location else state
    if (
        phone_result
        and phone_result.states
        and lead_state
        and lead_state not in phone_result.states
    ):
        flags.append(QualityFlag.PHONE_STATE_MISMATCH)
    return [str(flag) for flag in flags]
