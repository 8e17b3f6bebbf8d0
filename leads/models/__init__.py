from leads.models.alert import Alert, AlertKind
from leads.models.assignment import AssignmentReason, LeadAssignment
from leads.models.attempt import ContactAttempt, Direction, Disposition
from leads.models.conversion import Conversion, ConversionKind, ConversionOrigin
from leads.models.intake import ImportRun, ImportStatus, SourceDailyCount
from leads.models.lead import Lead, LeadStatus, PhoneType
from leads.models.note import LeadNote
from leads.models.rep import RepProfile
from leads.models.scoring import ScoringFactor
from leads.models.source import Exclusivity, LeadSource, ReturnReason
from leads.models.touch import SENT_CHANNELS, Touch, TouchStatus

__all__ = [
    "SENT_CHANNELS",
    "Alert",
    "AlertKind",
    "AssignmentReason",
    "ContactAttempt",
    "Conversion",
    "ConversionKind",
    "ConversionOrigin",
    "Direction",
    "Disposition",
    "Exclusivity",
    "ImportRun",
    "ImportStatus",
    "Lead",
    "LeadAssignment",
    "LeadNote",
    "LeadSource",
    "LeadStatus",
    "PhoneType",
    "RepProfile",
    "ReturnReason",
    "ScoringFactor",
    "SourceDailyCount",
    "Touch",
    "TouchStatus",
]
