from leads.models.attempt import ContactAttempt, Direction, Disposition
from leads.models.lead import Lead, LeadStatus
from leads.models.rep import RepProfile
from leads.models.source import Exclusivity, LeadSource, ReturnReason

__all__ = [
    "ContactAttempt",
    "Direction",
    "Disposition",
    "Exclusivity",
    "Lead",
    "LeadSource",
    "LeadStatus",
    "RepProfile",
    "ReturnReason",
]
