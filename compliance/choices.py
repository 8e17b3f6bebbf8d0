"""The compliance app's choices, apart from its models so the gate's rules can read them."""

from django.db import models

from leads.choices import Channel


class CaptureMethod(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    PHONE_RECORDING = "phone_recording", "Recorded phone call"
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    PAPER = "paper", "Signed paper form"
    API = "api", "Vendor API"
    IMPORT = "import", "File import"


class RevocationMeans(models.TextChoices):
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    SMS_REPLY = "sms_reply", "SMS reply in plain words"
    VERBAL = "verbal", "Said on a call"
    EMAIL = "email", "Email unsubscribe or reply"
    WEB = "web", "Web form"
    API = "api", "Vendor API"
    REASSIGNED = "reassigned", "Number reassigned after consent"


class SuppressionScope(models.TextChoices):
    ALL = "all", "All channels"
    CALL = Channel.CALL.value, Channel.CALL.label
    SMS = Channel.SMS.value, Channel.SMS.label
    EMAIL = Channel.EMAIL.value, Channel.EMAIL.label


class SuppressionOrigin(models.TextChoices):
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    REP = "rep", "Recorded by a rep"
    EMAIL_UNSUBSCRIBE = "email_unsubscribe", "Email unsubscribe"
    API = "api", "API"
    DNC_LIST = "dnc_list", "Do Not Call list"
    MANAGER = "manager", "Added by a manager"
    IMPORT = "import", "Imported from a file by a manager"


class DncListKind(models.TextChoices):
    NATIONAL = "national", "National Do Not Call Registry"
    STATE = "state", "State Do Not Call list"


class DncListStatus(models.TextChoices):
    IMPORTING = "importing", "Importing"
    READY = "ready", "In use"
    REPLACED = "replaced", "Replaced by a newer copy"
    FAILED = "failed", "Failed"


class Purpose(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    TRANSACTIONAL = "transactional", "Transactional reply (help text, opt-out confirmation)"


class DecisionStage(models.TextChoices):
    SCHEDULED = "scheduled", "When scheduled"
    SENDING = "sending", "At the moment of sending"
    MANUAL = "manual", "Before a rep's contact"
