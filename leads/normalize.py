"""Normalise what vendors send: phone numbers, emails, states, ZIPs, and where a lead lives.

Locations come from offline data shipped in packages, loaded once per process:
- ZIP -> state, city, IANA zone, area codes: the `zipcodes` package (USPS-derived).
- Area code -> zones and states: built from the same ZIP data (every ZIP lists the area codes
  that serve it), because phonenumbers gives one zone for split area codes such as 850.
"""

import re
import sys
from dataclasses import dataclass
from functools import cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumber_field.phonenumber import PhoneNumber
from phonenumbers import PhoneMetadata, PhoneNumberType, national_significant_number
from phonenumbers import timezone as phone_timezones
from phonenumbers.phonenumberutil import (  # number_type's own steps
    COUNTRY_CODE_TO_REGION_CODE,
    _number_type_helper,
)

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
STATE_CODES = frozenset(USState.values)  # .values builds a new list on every access
US_REGIONS = {"US", "PR", "GU", "VI", "AS", "MP"}
# The usual ways a US number is written ("+1 305-555-0142", "(305) 555-0142", "3055550142"),
# once spaces, dots, dashes and brackets are dropped. phonenumbers.parse reads every
# country's forms and gives the same number for these at several times the cost.
US_NUMBER_DIGITS = re.compile(r"(?:\+1|1)?([2-9]\d{9})")
PHONE_PUNCTUATION = str.maketrans("", "", " ().-")
US_METADATA = PhoneMetadata.metadata_for_region("US")
# What `_type_and_region` relies on: the US is the first NANP region, fitted by validation.
US_FITTED_FIRST = COUNTRY_CODE_TO_REGION_CODE[1][0] == "US" and US_METADATA.leading_digits is None
SPECIAL_USE_DOMAINS = frozenset(name.lower() for name in SPECIAL_USE_DOMAIN_NAMES)
# Most addresses are plain ASCII. One of those that this matches and that passes the length
# and reserved-name checks in `_is_plain_email` is valid for email_validator too, which
# checks every other address (a tenth of the time for the plain ones).
PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


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
    number: PhoneNumber | None = None


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


@dataclass(frozen=True)
class PlaceTables:
    """Where each ZIP is, and which zones and states each area code serves."""

    zips: dict[str, ZipLocation]
    area_codes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    state_zones: dict[str, tuple[str, ...]]


@cache
def place_tables() -> PlaceTables:
    """Build the lookup tables from the zipcodes package's offline data, once per process.

    Takes about a second and keeps only what intake needs (a few MB, not the package's
    150 MB of records); crm/wsgi.py calls it at start-up so no request waits for it.
    """
    from zipcodes import _zipcodes

    zips: dict[str, ZipLocation] = {}
    area_zones: dict[str, set[str]] = {}
    area_states: dict[str, set[str]] = {}
    state_zones: dict[str, set[str]] = {}
    for row in _zipcodes.list_all():
        zone, state = sys.intern(row["timezone"]), sys.intern(row["state"])
        if not zone.startswith(("America/", "Pacific/")):
            continue
        zips[row["zip_code"]] = ZipLocation(row["zip_code"], state, row["city"], zone)
        state_zones.setdefault(state, set()).add(zone)
        for area_code in row["area_codes"]:
            area_zones.setdefault(area_code, set()).add(zone)
            area_states.setdefault(area_code, set()).add(state)
    return PlaceTables(
        zips=zips,
        area_codes={
            code: (tuple(sorted(area_zones[code])), tuple(sorted(area_states[code])))
            for code in area_zones
        },
        state_zones={state: tuple(sorted(zones)) for state, zones in state_zones.items()},
    )


def area_code_places(area_code: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the time zones and the states an area code serves."""
    return place_tables().area_codes.get(area_code, ((), ()))


class ValidatedPhoneNumber(PhoneNumber):
    """A number `normalize_phone` has validated: saving or printing it won't validate it again.

    phonenumber_field checks validity on every str() and save, which costs more than the
    rest of storing a lead.
    """

    def is_valid(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.e164

    def format_as(self, format):
        if format == phonenumbers.PhoneNumberFormat.E164:
            return self.e164
        return super().format_as(format)


def _type_and_region(number: phonenumbers.PhoneNumber) -> tuple[int, str | None]:
    """Return what phonenumbers.number_type and region_code_for_number return, finding the
    region once: number_type finds it again, and finding it is most of checking a number.

    A +1 number's region is the first of the NANP regions whose numbers it fits, the US
    first; the type found by fitting it to the US is its type.
    """
    if number.country_code == 1 and US_FITTED_FIRST:
        national = national_significant_number(number)
        number_type = _number_type_helper(national, US_METADATA)
        if number_type != PhoneNumberType.UNKNOWN:
            return number_type, "US"
    region = phonenumbers.region_code_for_number(number)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
    if metadata is None:
        return PhoneNumberType.UNKNOWN, region
    return _number_type_helper(national_significant_number(number), metadata), region


def normalize_phone(raw: str, *, region: str = "US") -> PhoneResult:
    """Return the number in E.164 with its type and its area code's zones and states."""
    text = str(raw).strip()
    if region == "US" and (usual := US_NUMBER_DIGITS.fullmatch(text.translate(PHONE_PUNCTUATION))):
        number = ValidatedPhoneNumber(country_code=1, national_number=int(usual.group(1)))
    else:
        number = ValidatedPhoneNumber()
        try:
            phonenumbers.parse(text, region, numobj=number)
        except phonenumbers.NumberParseException:
            raise InvalidField("phone", f"{text[:40]!r} is not a valid US phone number.") from None
    # UNKNOWN exactly when the number is not valid (as is_valid_number says, at less cost).
    number_type, number_region = _type_and_region(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise InvalidField("phone", f"{text[:40]!r} is not a valid US phone number.")
    if number_region not in US_REGIONS:
        raise InvalidField("phone", f"{text[:40]!r} is not a US phone number.")
    number.e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    area_code = str(number.national_number)[:3]
    zones, states = area_code_places(area_code)
    if not zones and number_type != PhoneNumberType.TOLL_FREE:
        zones = tuple(z for z in phone_timezones.time_zones_for_number(number) if "/" in z)
        zones = zones if len(zones) <= 4 else ()  # non-geographic numbers list every zone
    return PhoneResult(
        e164=number.e164,
        number_type=NUMBER_TYPES.get(number_type, "unknown"),
        area_code=area_code,
        time_zones=zones,
        states=states,
        number=number,
    )


def _is_plain_email(text: str) -> bool:
    if len(text) > 254 or "--" in text or not PLAIN_EMAIL.fullmatch(text):
        return False
    local, _, domain = text.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    return (
        len(local) <= 64
        and len(domain) <= 253
        # Neither the domain nor a domain it is under is a special-use name.
        and not any(".".join(labels[i:]) in SPECIAL_USE_DOMAINS for i in range(len(labels)))
    )


def normalize_email(raw: str) -> str:
    """Return the address lowercased, or raise InvalidField naming the syntax problem."""
    text = str(raw).strip()
    if _is_plain_email(text):
        return text.lower()
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
    if code not in STATE_CODES:
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
    return place_tables().zips.get(zip5)


def lead_time_zones(*, zip5: str, state: str, phone_result: PhoneResult) -> TimeZoneFacts:
    """Return the lead's zone and whether the ZIP's and the area code's zones disagree.

    The ZIP decides; without one, a state with a single zone; else the area code's first zone.
    """
    location = zip_location(zip5) if zip5 else None
    zip_zone = location.time_zone if location else None
    area_zones = phone_result.time_zones
    state_zones = place_tables().state_zones.get(state, ()) if state else ()
    primary = zip_zone or (state_zones[0] if len(state_zones) == 1 else None)
    if primary is None and area_zones:
        primary = area_zones[0]
    disagreement = bool(zip_zone and area_zones and zip_zone not in area_zones)
    return TimeZoneFacts(primary, zip_zone, area_zones, disagreement)
