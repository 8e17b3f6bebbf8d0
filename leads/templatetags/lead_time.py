import zoneinfo

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def local_time(lead) -> str:
    """Show the lead's current local time, or an empty string when its zone is unknown."""
    if not lead.time_zone:
        return ""
    now = timezone.now().astimezone(zoneinfo.ZoneInfo(lead.time_zone))
    return now.strftime("%a %H:%M %Z")


@register.filter
def local_at(lead, moment) -> str:
    """Show an instant in the lead's local time."""
    if not lead.time_zone or moment is None:
        return ""
    return moment.astimezone(zoneinfo.ZoneInfo(lead.time_zone)).strftime("%a %H:%M %Z")
