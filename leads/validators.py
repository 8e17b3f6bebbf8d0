"""Field validators for lead data."""

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError

from leads.choices import Channel, USState


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value and value not in _known_time_zones():
        raise ValidationError("%(value)s is not an IANA time zone.", params={"value": value})


def validate_state_list(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of two-letter state codes.")
    unknown = sorted({str(code) for code in value} - set(USState.values))
    if unknown:
        raise ValidationError(
            "Unknown state codes: %(codes)s.", params={"codes": ", ".join(unknown)}
        )


def validate_channel_list(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of channels.")
    unknown = sorted({str(channel) for channel in value} - set(Channel.values))
    if unknown:
        raise ValidationError(
            "Unknown channels: %(channels)s (allowed: %(allowed)s).",
            params={"channels": ", ".join(unknown), "allowed": ", ".join(Channel.values)},
        )


def validate_string_list(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Enter a list of names.")


def unstorable_text_problem(value: str) -> str:
    """Say why text cannot be stored (PostgreSQL refuses NUL and text that is not UTF-8), or
    return ""."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in JSON
            return "Must be valid Unicode text (it has a lone surrogate)."
    return ""
