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


@register.filter
def duration_text(delta) -> str:
    """Show a time span the way a rep says it: "45 s", "3 min", "2 h 5 min", "3 d 4 h"."""
    if delta is None:
        return "—"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"
