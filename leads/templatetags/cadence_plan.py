import zoneinfo

from django import template

register = template.Library()


@register.filter
def local_when(lead, moment) -> str:
    """Show an instant's day and time in the lead's zone, with the zone's abbreviation."""
    if not lead.time_zone or moment is None:
        return ""
    return moment.astimezone(zoneinfo.ZoneInfo(lead.time_zone)).strftime("%a %b %-d, %H:%M %Z")
