from leads.models.assignment import AssignmentReason, LeadAssignment
from leads.models.attempt import ContactAttempt, Direction, Disposition
from leads.models.intake import ImportRun, ImportStatus, SourceDailyCount
from leads.models.lead import Lead, LeadStatus, PhoneType
from leads.models.rep import RepProfile
from leads.models.source import Exclusivity, LeadSource, ReturnReason
from leads.models.touch import Touch, TouchStatus

__all__ = [
    "AssignmentReason",
    "ContactAttempt",
    "Direction",
    "Disposition",
    "Exclusivity",
    "ImportRun",
    "ImportStatus",
    "Lead",
    "LeadAssignment",
    "LeadSource",
    "LeadStatus",
    "PhoneType",
    "RepProfile",
    "ReturnReason",
    "SourceDailyCount",
    "Touch",
    "TouchStatus",
]
