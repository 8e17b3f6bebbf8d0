"""What the lead-to-call bridge needs in production (`manage.py check --deploy`)."""

import re

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError

from leads.models import CadenceStep, StepChannel

E164 = re.compile(r"\+[1-9]\d{7,14}")
RECORDING_NOTICES = ("always", "all_party_states")
TWILIO_VOICE = "crm.telephony.TwilioVoiceBackend"


@register(Tags.compatibility, deploy=True)
def voice_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.VOICE_CALLER_ID and not E164.fullmatch(settings.VOICE_CALLER_ID):
        problems.append(
            Error(
                f"VOICE_CALLER_ID {settings.VOICE_CALLER_ID!r} is not an E.164 number.",
                hint="Write it like +13055550100.",
                id="leads.E101",
            )
        )
    if settings.VOICE_RECORDING_NOTICE not in RECORDING_NOTICES:
        problems.append(
            Error(
                f"VOICE_RECORDING_NOTICE must be one of {', '.join(RECORDING_NOTICES)}.",
                id="leads.E102",
            )
        )
    if settings.VOICE_BACKEND == TWILIO_VOICE and not settings.SITE_URL.startswith("https://"):
        problems.append(
            Error(
                "The Twilio voice backend needs SITE_URL, the https:// address Twilio calls "
                "back (every callback's signature covers it).",
                hint="Set SITE_URL, e.g. https://crm.example.com.",
                id="leads.E103",
            )
        )
    try:
        bridges = CadenceStep.objects.filter(
            channel=StepChannel.BRIDGE, cadence__is_active=True
        ).exists()
    except DatabaseError:  # not migrated yet: nothing to warn about
        bridges = False
    if bridges and not settings.VOICE_CALLER_ID:
        problems.append(
            Warning(
                "Active cadences have lead-to-call bridge steps but VOICE_CALLER_ID is not set.",
                hint="Set VOICE_CALLER_ID to the business number people can call back "
                "(47 CFR 64.1601(e)); until then Twilio refuses the calls.",
                id="leads.W101",
            )
        )
    if bridges and settings.VOICE_BACKEND.endswith(".ConsoleVoiceBackend"):
        problems.append(
            Warning(
                "Lead-to-call bridges are only logged: VOICE_BACKEND is the console backend.",
                hint="Set VOICE_BACKEND=crm.telephony.TwilioVoiceBackend and the TWILIO_* "
                "variables.",
                id="leads.W102",
            )
        )
    return problems
