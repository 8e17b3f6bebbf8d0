from leads.models.alert import Alert, AlertKind
from leads.models.assignment import AssignmentReason, LeadAssignment
from leads.models.attempt import ContactAttempt, Direction, Disposition
from leads.models.cadence import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    EnrollmentStatus,
    StepChannel,
    StepDelayFrom,
)
from leads.models.conversion import Conversion, ConversionKind, ConversionOrigin
from leads.models.feedback import (
    ApiToken,
    DeliveryStatus,
    FeedbackDelivery,
    FeedbackEvent,
    FeedbackEventType,
    FeedbackFile,
    FeedbackFileStatus,
    LeadReturn,
    ReturnOrigin,
    ReturnStatus,
)
from leads.models.intake import ImportRun, ImportStatus, SourceDailyCount
from leads.models.lead import Lead, LeadStatus, PhoneType
from leads.models.note import LeadNote
from leads.models.rep import RepProfile
from leads.models.rollup import RepDayRollup, SourceDayRollup
from leads.models.scoring import ScoringFactor
from leads.models.source import Exclusivity, LeadSource, Pricing, ReturnReason
from leads.models.touch import SENT_CHANNELS, Touch, TouchStatus

__all__ = [
    "SENT_CHANNELS",
    "Alert",
    "AlertKind",
    "ApiToken",
    "AssignmentReason",
    "Cadence",
    "CadenceEnrollment",
    "CadenceStep",
    "ContactAttempt",
    "Conversion",
    "ConversionKind",
    "ConversionOrigin",
    "DeliveryStatus",
    "Direction",
    "Disposition",
    "EnrollmentStatus",
    "Exclusivity",
    "FeedbackDelivery",
    "FeedbackEvent",
    "FeedbackEventType",
    "FeedbackFile",
    "FeedbackFileStatus",
    "ImportRun",
    "ImportStatus",
    "Lead",
    "LeadAssignment",
    "LeadNote",
    "LeadReturn",
    "LeadSource",
    "LeadStatus",
    "PhoneType",
    "Pricing",
    "RepDayRollup",
    "RepProfile",
    "ReturnOrigin",
    "ReturnReason",
    "ReturnStatus",
    "ScoringFactor",
    "SourceDailyCount",
    "SourceDayRollup",
    "StepChannel",
    "StepDelayFrom",
    "Touch",
    "TouchStatus",
]
