"""Lead scores: how promising a lead is, from what arrived with it. 0 to 100, higher first.

Each factor is a plain number here so a manager can read why a lead scored what it did.
"""

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
EXCLUSIVE = 10
PER_QUALITY_FLAG = -15
DUPLICATE = -20


def lead_score(*, lead: Lead, consent_channels: set[str]) -> int:
    """Return the lead's score from its data, consent and doubts."""
    score = BASE + PHONE_TYPE_POINTS.get(lead.phone_type, 0)
    score += HAS_EMAIL if lead.email else 0
    score += HAS_FULL_NAME if lead.first_name and lead.last_name else 0
    score += HAS_ADDRESS if lead.street and lead.zip_code else 0
    score += sum(CONSENT_CHANNEL_POINTS.get(channel, 0) for channel in consent_channels)
    score += EXCLUSIVE if lead.is_exclusive else 0
    score += PER_QUALITY_FLAG * len(lead.quality_flags)
    score += DUPLICATE if lead.duplicate_of_id else 0
    return max(0, min(100, score))
