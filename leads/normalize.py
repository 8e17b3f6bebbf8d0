"""Normalise what vendors send: phone numbers, emails, states, ZIPs, and where a lead lives.

Where a ZIP is and which zones an area code serves come from `leads.places`.
"""

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumber_field.phonenumber import PhoneNumber
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezones

from leads.choices import USState
from leads.places import area_code_places, place_tables, zip_location

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
class TimeZoneFacts:
    primary_zone: str | None
    zip_zone: str | None
    area_code_zones: tuple[str, ...]
    disagreement: bool


def normalize_phone(raw: str, *, region: str = "US") -> PhoneResult:
    """Return the number in E.164 with its type and its area code's zones and states."""
    text = str(raw).strip()
    if region == "US" and (usual := US_NUMBER_DIGITS.fullmatch(text.translate(PHONE_PUNCTUATION))):
        number = PhoneNumber(country_code=1, national_number=int(usual.group(1)))
    else:
        number = PhoneNumber()
        try:
            phonenumbers.parse(text, region, numobj=number)
        except phonenumbers.NumberParseException:
            raise InvalidField("phone", f"{text[:40]!r} is not a valid US phone number.") from None
    # UNKNOWN exactly when is_valid_number would say no: one look-up answers both.
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise InvalidField("phone", f"{text[:40]!r} is not a valid US phone number.")
    if phonenumbers.region_code_for_number(number) not in US_REGIONS:
        raise InvalidField("phone", f"{text[:40]!r} is not a US phone number.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    area_code = str(number.national_number)[:3]
    zones, states = area_code_places(area_code)
    if not zones and number_type != PhoneNumberType.TOLL_FREE:
        zones = tuple(z for z in phone_timezones.time_zones_for_number(number) if "/" in z)
        zones = zones if len(zones) <= 4 else ()  # non-geographic numbers list every zone
    return PhoneResult(
        e164=e164,
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
