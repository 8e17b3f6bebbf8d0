"""Why the compliance gate blocked a contact: a stable code for code, a sentence for the rep."""

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    OUTSIDE_FEDERAL_HOURS = "outside_federal_hours"
    OUTSIDE_STATE_HOURS = "outside_state_hours"
    SUNDAY_BAN = "sunday_ban"
    STATE_HOLIDAY = "state_holiday"
    NO_TIME_ZONE = "no_time_zone"
    ATTEMPT_CAP = "attempt_cap"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    DNC_NATIONAL = "dnc_national"
    DNC_STATE = "dnc_state"
    DNC_NOT_SCRUBBED = "dnc_not_scrubbed"
    NO_PHONE = "no_phone"
    NO_EMAIL = "no_email"
    EMAIL_NOT_READY = "email_not_ready"


REASON_LABELS = {
    ReasonCode.OUTSIDE_FEDERAL_HOURS: "Outside federal calling hours",
    ReasonCode.OUTSIDE_STATE_HOURS: "Outside state calling hours",
    ReasonCode.SUNDAY_BAN: "Sunday ban",
    ReasonCode.STATE_HOLIDAY: "State holiday",
    ReasonCode.NO_TIME_ZONE: "Unknown local time",
    ReasonCode.ATTEMPT_CAP: "Attempt cap reached",
    ReasonCode.NO_CONSENT: "No consent",
    ReasonCode.OPTED_OUT: "Opted out",
    ReasonCode.DNC_NATIONAL: "National Do Not Call Registry",
    ReasonCode.DNC_STATE: "State Do Not Call list",
    ReasonCode.DNC_NOT_SCRUBBED: "Registry copy too old",
    ReasonCode.NO_PHONE: "No phone number",
    ReasonCode.NO_EMAIL: "No email address",
    ReasonCode.EMAIL_NOT_READY: "Email requirements missing",
}


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "message": self.message}
