"""Lead scores: how promising a lead is, from what arrived with it. 0 to 100, higher first.

A score is the sum of named factors, kept with the lead (`Lead.score_factors`) so its page
and the admin show why it scored what it did ("+15 mobile phone, -15 disposable email").
"""

from dataclasses import dataclass

from leads.choices import Channel
from leads.models import Lead, PhoneType

BASE = 40
PHONE_TYPE_POINTS = {
    PhoneType.MOBILE: 15,
    PhoneType.LANDLINE: 5,
    PhoneType.VOIP: -5,
    PhoneType.TOLL_FREE: -10,
}
HAS_EMAIL = 5
HAS_FULL_NAME = 5
HAS_ADDRESS = 5
CONSENT_CHANNEL_POINTS = {Channel.CALL: 10, Channel.SMS: 5, Channel.EMAIL: 2}
CONSENT_LABELS = {Channel.CALL: "calls", Channel.SMS: "texts", Channel.EMAIL: "email"}
EXCLUSIVE = 10
PER_QUALITY_FLAG = -15
DUPLICATE = -20


@dataclass(frozen=True)
class Score:
    total: int
    factors: list[tuple[str, int]]  # (what, points), in the order they were added

    def as_stored(self) -> list[list]:
        return [[label, points] for label, points in self.factors]


def lead_score(*, lead: Lead, consent_channels: set[str]) -> Score:
    """Return the lead's score and the factors it is the sum of."""
    factors: list[tuple[str, int]] = [("base", BASE)]
    if points := PHONE_TYPE_POINTS.get(lead.phone_type):
        factors.append((f"{PhoneType(lead.phone_type).label.lower()} phone", points))
    if lead.email:
        factors.append(("has an email address", HAS_EMAIL))
    if lead.first_name and lead.last_name:
        factors.append(("full name", HAS_FULL_NAME))
    if lead.street and lead.zip_code:
        factors.append(("street address", HAS_ADDRESS))
    for channel in sorted(consent_channels & set(CONSENT_CHANNEL_POINTS)):
        factors.append((f"consent to {CONSENT_LABELS[channel]}", CONSENT_CHANNEL_POINTS[channel]))
    if lead.is_exclusive:
        factors.append(("exclusive", EXCLUSIVE))
    factors.extend((flag.replace("_", " "), PER_QUALITY_FLAG) for flag in lead.quality_flags)
    if lead.duplicate_of_id:
        factors.append(("duplicate of an earlier lead", DUPLICATE))
    total = sum(points for _, points in factors)
    return Score(total=max(0, min(100, total)), factors=factors)


def score_breakdown(*, lead: Lead) -> str:
    """Return the lead's stored factors as one line, e.g. "40 base, +15 mobile phone"."""
    parts = [
        f"{points} {label}" if index == 0 else f"{points:+d} {label}"
        for index, (label, points) in enumerate(lead.score_factors)
    ]
    return ", ".join(parts)
