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
