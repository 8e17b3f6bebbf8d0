"""Normalise what vendors send: phone numbers, emails, states, ZIPs, and where a lead lives.

Locations come from offline data shipped in packages, loaded once per process:
- ZIP -> state, city, IANA zone, area codes: the `zipcodes` package (USPS-derived).
- Area code -> zones and states: built from the same ZIP data (every ZIP lists the area codes
  that serve it), because phonenumbers gives one zone for split area codes such as 850.
"""

from dataclasses import dataclass
from functools import cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezones

from leads.choices import USState

# phonenumbers cannot tell mobile from landline for most US numbers (FIXED_LINE_OR_MOBILE);
# those are "unknown" rather than a guess.
NUMBER_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
}
STATE_NAMES = {label.lower(): code for code, label in USState.choices}
US_REGIONS = {"US", "PR", "GU", "VI", "AS", "MP"}


class InvalidField(ValueError):
    """A value a vendor sent that cannot be used, with the field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PhoneResult:
    e164: str
    number_type: str
    area_code: str
    time_zones: tuple[str, ...]
    states: tuple[str, ...]


@dataclass(frozen=True)
class ZipLocation:
    zip_code: str
    state: str
    city: str
    time_zone: str


@dataclass(frozen=True)
class TimeZoneFacts:
    primary_zone: str | None
    zip_zone: str | None
    area_code_zones: tuple[str, ...]
    disagreement: bool


@cache
def _zip_table() -> dict[str, ZipLocation]:
    import zipcodes

    return {
        row["zip_code"]: ZipLocation(row["zip_code"], row["state"], row["city"], row["timezone"])
        for row in zipcodes.list_all()
        if row["timezone"].startswith(("America/", "Pacific/"))
    }


@cache
def _area_code_table() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Return area code -> (zones, states) from every ZIP the area code serves."""
    import zipcodes

    zones: dict[str, set[str]] = {}
    states: dict[str, set[str]] = {}
    for row in zipcodes.list_all():
        if not row["timezone"].startswith(("America/", "Pacific/")):
            continue
        for area_code in row["area_codes"]:
            zones.setdefault(area_code, set()).add(row["timezone"])
            states.setdefault(area_code, set()).add(row["state"])
    return {code: (tuple(sorted(zones[code])), tuple(sorted(states[code]))) for code in zones}


@cache
def _state_zones() -> dict[str, tuple[str, ...]]:
    zones: dict[str, set[str]] = {}
    for location in _zip_table().values():
        zones.setdefault(location.state, set()).add(location.time_zone)
    return {state: tuple(sorted(found)) for state, found in zones.items()}


def normalize_phone(raw: str, *, region: str = "US") -> PhoneResult:
    """Return the number in E.164 with its type and its area code's zones and states."""
    text = str(raw).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidField("phone", f"{text[:40]!r} is not a valid US phone number.")
    if phonenumbers.region_code_for_number(number) not in US_REGIONS:
        raise InvalidField("phone", f"{text[:40]!r} is not a US phone number.")
    national = str(number.national_number)
    area_code = national[:3]
    zones, states = _area_code_table().get(area_code, ((), ()))
    number_type = phonenumbers.number_type(number)
    if not zones and number_type != PhoneNumberType.TOLL_FREE:
        zones = tuple(z for z in phone_timezones.time_zones_for_number(number) if "/" in z)
        zones = zones if len(zones) <= 4 else ()  # non-geographic numbers list every zone
    return PhoneResult(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        number_type=NUMBER_TYPES.get(number_type, "unknown"),
        area_code=area_code,
        time_zones=zones,
        states=states,
    )


def normalize_email(raw: str) -> str:
    """Return the address lowercased, or raise InvalidField naming the syntax problem."""
    text = str(raw).strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidField(
            "email", f"{text[:80]!r} is not a valid email address: {error}"
        ) from error
    return result.normalized.lower()


def normalize_state(raw: str) -> str:
    """Return a two-letter state code from a code or a name."""
    text = " ".join(str(raw).split())
    code = text.upper() if len(text) == 2 else STATE_NAMES.get(text.lower())
    if code not in USState.values:
        raise InvalidField("state", f"{text[:40]!r} is not a US state; use a two-letter code.")
    return code


def normalize_zip(raw: str) -> str:
    """Return the 5-digit ZIP from a ZIP or ZIP+4."""
    text = str(raw).strip()
    digits = text.replace("-", "").replace(" ", "")
    if not digits.isdigit() or len(digits) not in (5, 9):
        raise InvalidField("zip", f"{text[:20]!r} is not a ZIP code (12345 or 12345-6789).")
    return digits[:5]


def zip_location(zip5: str) -> ZipLocation | None:
    """Return where a ZIP is, or None for a ZIP that does not exist."""
    return _zip_table().get(zip5)


def lead_time_zones(*, zip5: str, state: str, phone_result: PhoneResult) -> TimeZoneFacts:
    """Return the lead's zone and whether the ZIP's and the area code's zones disagree.

    The ZIP decides; without one, a state with a single zone; else the area code's first zone.
    """
    location = zip_location(zip5) if zip5 else None
    zip_zone = location.time_zone if location else None
    area_zones = phone_result.time_zones
    state_zones = _state_zones().get(state, ()) if state else ()
    primary = zip_zone or (state_zones[0] if len(state_zones) == 1 else None)
    if primary is None and area_zones:
        primary = area_zones[0]
    disagreement = bool(zip_zone and area_zones and zip_zone not in area_zones)
    return TimeZoneFacts(primary, zip_zone, area_zones, disagreement)
