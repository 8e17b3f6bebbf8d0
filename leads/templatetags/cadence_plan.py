import zoneinfo

from django import template

from leads.models import StepChannel

register = template.Library()


@register.filter
def local_when(lead, moment) -> str:
    """Show an instant's day and time in the lead's zone, with the zone's abbreviation."""
    if not lead.time_zone or moment is None:
        return ""
    return moment.astimezone(zoneinfo.ZoneInfo(lead.time_zone)).strftime("%a %b %-d, %H:%M %Z")


STEP_NAMES = {
    StepChannel.SMS: "Text",
    StepChannel.EMAIL: "Email",
    StepChannel.CALL_TASK: "Call task",
    StepChannel.BRIDGE: "Lead-to-call",
}


@register.filter
def step_name(step) -> str:
    """A cadence step's channel in a word or two, for narrow screens."""
    return STEP_NAMES.get(step.channel, step.get_channel_display()) if step else ""
