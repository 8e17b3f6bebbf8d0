"""Turn one vendor payload (JSON object, form post or CSV row) into clean lead data.

Every problem is collected, so the vendor hears about all of them at once, each under the
name of the field it concerns.
"""

import datetime
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leads.choices import Channel
from leads.models import Exclusivity, LeadSource, Pricing
from leads.normalize import (
    InvalidField,
    lead_time_zones,
    normalize_email,
    normalize_phone,
    normalize_state,
    normalize_zip,
    zip_location,
)
from leads.quality import quality_flags
from leads.validators import unstorable_text_problem

MAX_LENGTHS = {
    "consent.user_agent": 1000,
    "consent.jornaya_leadid": 64,
    "source_lead_id": 100,
    "first_name": 100,
    "last_name": 100,
    "street": 200,
    "city": 100,
    "product": 64,
    "campaign": 100,
}
CONSENT_FIELDS = (
    "captured_at",
    "ip",
    "user_agent",
    "page_url",
    "disclosure_text",
    "sellers",
    "channels",
    "trustedform_cert_url",
    "jornaya_leadid",
)
CONSENT_LIST_FIELDS = ("sellers", "channels")
LANGUAGE_CODE = re.compile(r"[a-z]{2}")
MAX_EXTRA_BYTES = 16_384
MAX_EXTRA_DEPTH = 5
MAX_EXTRA_KEYS = 200
# One encoder for every lead: json.dumps with options builds a new one on each call.
EXTRA_ENCODER = json.JSONEncoder(default=str, allow_nan=False)
CLOCK_SKEW = datetime.timedelta(minutes=5)
JORNAYA_TOKEN = re.compile(
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)
TRUSTEDFORM_HOSTS = {"cert.trustedform.com", "cert.trustedform-dev.com"}
HTTP_URL = URLValidator(schemes=["http", "https"])
# As long as ConsentRecord's columns: a longer URL is refused, not a failed insert.
PAGE_URL_MAX_LENGTH = 2000
TRUSTEDFORM_URL_MAX_LENGTH = 500
# TextChoices.values builds a new list on every access: too slow for a per-lead check.
CHANNELS = frozenset(Channel.values)
TRUE_WORDS = {"1", "true", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off", ""}


@dataclass
class CleanConsent:
    captured_at: datetime.datetime | None
    ip_address: str | None
    user_agent: str
    page_url: str
    disclosure_text: str
    seller_names: list[str]
    channels: list[str]
    trustedform_cert_url: str
    jornaya_leadid: str

    @property
    def is_evidence(self) -> bool:
        """Say whether this is enough to count as consent: words shown, and when."""
        return bool(self.captured_at and self.disclosure_text and self.channels)


@dataclass
class CleanLead:
    source_lead_id: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    phone_type: str = "unknown"
    email: str = ""
    street: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    time_zone: str = ""
    area_code_time_zones: list[str] = field(default_factory=list)
    time_zone_mismatch: bool = False
    product: str = ""
    campaign: str = ""
    language: str = ""
    is_exclusive: bool = True
    cost: Decimal = Decimal("0")
    extra: dict = field(default_factory=dict)
    consent: CleanConsent | None = None
    quality_flags: list[str] = field(default_factory=list)


class Problems(dict):
    """Field name -> messages, in the order found."""

    def add(self, field_name: str, message: str) -> None:
        self.setdefault(field_name, []).append(message)


def _text(raw: Mapping, name: str, problems: Problems, *, label: str = "") -> str:
    label = label or name
    value = raw.get(name)
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        problems.add(label, "Must be text.")
        return ""
    value = str(value).strip()
    limit = MAX_LENGTHS.get(label)
    if limit and len(value) > limit:
        problems.add(label, f"Must be at most {limit} characters (got {len(value)}).")
        return ""
    problem = unstorable_text_problem(value)
    if problem:
        problems.add(label, problem)
        return ""
    return value


def _boolean(value, name: str, problems: Problems) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.add(name, f"Must be true or false (got {str(value)[:40]!r}).")
    return None


def _string_list(value, name: str, problems: Problems) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(name, "Must be a list of text values.")
        return []
    for item in value:
        problem = unstorable_text_problem(item)
        if problem:
            problems.add(name, problem)
            return []
    # Form posts and CSV cells may carry several values separated by commas.
    return [part.strip() for item in value for part in item.split(",") if part.strip()]


def _consent_raw(raw: Mapping) -> Mapping | None:
    """Return the consent object, from nested JSON or from flat consent_* names."""
    nested = raw.get("consent")
    if nested is not None:
        return nested
    flat = {name: raw[f"consent_{name}"] for name in CONSENT_FIELDS if f"consent_{name}" in raw}
    return flat or None


def _captured_at(value, problems: Problems) -> datetime.datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value).strip()) if isinstance(value, str) else None
    if parsed is None:
        problems.add("consent.captured_at", "Must be an ISO 8601 date and time with a UTC offset.")
        return None
    if timezone.is_naive(parsed):
        problems.add("consent.captured_at", "Must include a UTC offset, e.g. 2026-11-22T14:03:00Z.")
        return None
    if parsed > timezone.now() + CLOCK_SKEW:
        problems.add("consent.captured_at", "Is in the future.")
        return None
    return parsed


@lru_cache(maxsize=4096)  # a source's leads mostly come from a few landing pages
def _is_http_url(value: str) -> bool:
    try:
        HTTP_URL(value)
    except ValidationError:
        return False
    return True


def _url(value: str, name: str, problems: Problems, *, max_length: int) -> str:
    if not value:
        return ""
    if not _is_http_url(value):
        problems.add(name, f"Is not a valid http(s) URL: {value[:80]!r}.")
        return ""
    if len(value) > max_length:
        problems.add(name, f"Must be at most {max_length} characters.")
        return ""
    return value


def _consent_clean(raw_consent, problems: Problems) -> CleanConsent | None:
    if raw_consent is None:
        return None
    if not isinstance(raw_consent, Mapping):
        problems.add("consent", "Must be an object.")
        return None
    text = {
        name: _text(raw_consent, name, problems, label=f"consent.{name}")
        for name in CONSENT_FIELDS
        if name not in CONSENT_LIST_FIELDS and name != "captured_at"
    }
    ip = text["ip"]
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            problems.add("consent.ip", f"Is not an IP address: {ip[:45]!r}.")
            ip = None
    channels = [
        c.lower() for c in _string_list(raw_consent.get("channels"), "consent.channels", problems)
    ]
    unknown = sorted(set(channels) - CHANNELS)
    if unknown:
        problems.add(
            "consent.channels",
            f"Unknown channels {', '.join(unknown)}; use {', '.join(Channel.values)}.",
        )
    trustedform = _url(
        text["trustedform_cert_url"],
        "consent.trustedform_cert_url",
        problems,
        max_length=TRUSTEDFORM_URL_MAX_LENGTH,
    )
    if trustedform and urlparse(trustedform).hostname not in TRUSTEDFORM_HOSTS:
        problems.add(
            "consent.trustedform_cert_url", "Must be a cert.trustedform.com certificate URL."
        )
    jornaya = text["jornaya_leadid"]
    if jornaya and not JORNAYA_TOKEN.match(jornaya):
        problems.add("consent.jornaya_leadid", "Must be a 36-character LeadiD token.")
    if len(text["disclosure_text"]) > 10_000:
        problems.add("consent.disclosure_text", "Must be at most 10,000 characters.")
    return CleanConsent(
        captured_at=_captured_at(raw_consent.get("captured_at"), problems),
        ip_address=ip or None,
        user_agent=text["user_agent"],
        page_url=_url(
            text["page_url"], "consent.page_url", problems, max_length=PAGE_URL_MAX_LENGTH
        ),
        disclosure_text=text["disclosure_text"],
        seller_names=_string_list(raw_consent.get("sellers"), "consent.sellers", problems),
        channels=[c for c in dict.fromkeys(channels) if c in CHANNELS],
        trustedform_cert_url=trustedform,
        jornaya_leadid=jornaya,
    )


def _language(raw: Mapping, problems: Problems) -> str:
    """Return the lead's language as an ISO 639-1 code ("es" from "es-MX" too), or ""."""
    text = _text(raw, "language", problems).lower().replace("_", "-")
    code = text.partition("-")[0]
    if text and not LANGUAGE_CODE.fullmatch(code):
        problems.add("language", f"{text[:20]!r} is not an ISO 639-1 language code, e.g. es.")
        return ""
    return code


def _extra(raw: Mapping, problems: Problems) -> dict:
    value = raw.get("extra")
    if value is None:
        # Form posts and CSV rows send extra fields flat, as extra_<name>.
        value = {key[6:]: raw[key] for key in raw if key.startswith("extra_") and key[6:]}
    elif isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            problems.add("extra", "Must be a JSON object.")
            return {}
    if not isinstance(value, dict):
        problems.add("extra", "Must be an object.")
        return {}
    if not value:
        return value
    problem = _extra_problem(value)
    if problem:
        problems.add("extra", problem)
        return {}
    try:
        encoded = EXTRA_ENCODER.encode(value)
    except ValueError:  # 1e400 reads as infinity, which JSON columns cannot hold
        problems.add("extra", "Numbers must be finite.")
        return {}
    if len(encoded) > MAX_EXTRA_BYTES:
        problems.add("extra", f"Must be at most {MAX_EXTRA_BYTES:,} bytes as JSON.")
        return {}
    return value


def _extra_problem(value: dict) -> str:
    """Say why `extra` cannot be stored and shown safely, or return "".

    Walked without recursion and stopped at MAX_EXTRA_DEPTH: anything deeper would crash the
    pages and tasks that render or copy it later.
    """
    pending, keys = [(value, 1)], 0
    while pending:
        item, depth = pending.pop()
        if depth > MAX_EXTRA_DEPTH:
            return f"Must be nested at most {MAX_EXTRA_DEPTH} levels deep."
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if isinstance(key, str):
                keys += 1
                if keys > MAX_EXTRA_KEYS:
                    return f"Must have at most {MAX_EXTRA_KEYS} keys in all."
                if problem := unstorable_text_problem(key):
                    return problem
            if isinstance(child, str) and (problem := unstorable_text_problem(child)):
                return problem
            if isinstance(child, (dict, list)):
                pending.append((child, depth + 1))
    return ""


# Lead.cost: numeric(10, 2).
PRICE_LIMIT = Decimal("1e8")


def _price(raw: Mapping, source: LeadSource, problems: Problems) -> Decimal:
    """Return what the lead cost: the price it carries from a variable-priced source (within
    the source's floor and ceiling), else the source's fixed price per lead."""
    value = raw.get("price")
    given = value is not None and value != ""
    if source.pricing != Pricing.VARIABLE:
        if given:
            problems.add("price", "This source sells at a fixed price: send no price.")
        return source.price_per_lead
    if not given:
        problems.add("price", "Is required: this source sends each lead's price.")
        return Decimal("0")
    price = None
    if (
        isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        and len(str(value)) <= 40
    ):
        try:
            price = Decimal(str(value).strip())
        except InvalidOperation:
            price = None
    if price is None or not price.is_finite():
        problems.add("price", f"Must be an amount, e.g. 25.50 (got {str(value)[:40]!r}).")
        return Decimal("0")
    if price < 0 or price >= PRICE_LIMIT or price.as_tuple().exponent < -2:
        problems.add("price", "Must be an amount of at least 0.00, with at most 2 decimals.")
        return Decimal("0")
    floor, ceiling = source.price_floor, source.price_ceiling
    if floor is not None and price < floor:
        problems.add("price", f"Must be at least this source's floor of {floor:.2f}.")
    elif ceiling is not None and price > ceiling:
        problems.add("price", f"Must be at most this source's ceiling of {ceiling:.2f}.")
    return price.quantize(Decimal("0.01"))


def _normalised(function, raw_value, problems: Problems):
    try:
        return function(raw_value)
    except InvalidField as error:
        problems.add(error.field, error.message)
        return None


def payload_clean(*, raw: Mapping, source: LeadSource) -> tuple[CleanLead | None, Problems]:
    """Validate and normalise one payload; return clean data, or None and every problem."""
    problems = Problems()
    if not isinstance(raw, Mapping):
        problems.add("lead", "Must be an object.")
        return None, problems
    source_lead_id = _text(raw, "source_lead_id", problems)
    if not source_lead_id and "source_lead_id" not in problems:
        problems.add("source_lead_id", "Is required.")
    lead = CleanLead(source_lead_id=source_lead_id)
    for name in ("first_name", "last_name", "street", "city", "product", "campaign"):
        setattr(lead, name, _text(raw, name, problems))
    lead.cost = _price(raw, source, problems)
    raw_phone = _text(raw, "phone", problems)
    phone = None
    if raw_phone:
        phone = _normalised(normalize_phone, raw_phone, problems)
    elif "phone" not in problems:
        problems.add("phone", "Is required.")
    raw_email = _text(raw, "email", problems)
    lead.email = (_normalised(normalize_email, raw_email, problems) or "") if raw_email else ""
    raw_zip = _text(raw, "zip", problems) or _text(raw, "zip_code", problems)
    lead.zip_code = (_normalised(normalize_zip, raw_zip, problems) or "") if raw_zip else ""
    raw_state = _text(raw, "state", problems)
    lead.state = (_normalised(normalize_state, raw_state, problems) or "") if raw_state else ""
    location = zip_location(lead.zip_code) if lead.zip_code else None
    if lead.zip_code and location is None:
        problems.add("zip", f"ZIP {lead.zip_code} is not a US ZIP code.")
    if location and lead.state and location.state != lead.state:
        problems.add(
            "state",
            f"{lead.state} does not match ZIP {lead.zip_code}, which is in {location.state}.",
        )
    if location and not lead.state:
        lead.state = location.state
    exclusive = _boolean(raw.get("exclusive"), "exclusive", problems)
    lead.is_exclusive = (
        source.exclusivity == Exclusivity.EXCLUSIVE if exclusive is None else exclusive
    )
    lead.language = _language(raw, problems)
    lead.extra = _extra(raw, problems)
    lead.consent = _consent_clean(_consent_raw(raw), problems)
    if phone is not None:
        lead.phone = phone.e164
        lead.phone_type = phone.number_type
        zones = lead_time_zones(zip5=lead.zip_code, state=lead.state, phone_result=phone)
        lead.time_zone = zones.primary_zone or ""
        lead.area_code_time_zones = list(zones.area_code_zones)
        lead.time_zone_mismatch = zones.disagreement
        lead.quality_flags = quality_flags(
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone_result=phone,
            zip_location=location,
            state=lead.state,
        )
    if problems:
        return None, problems
    return lead, problems
