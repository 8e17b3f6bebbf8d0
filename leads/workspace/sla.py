"""Speed-to-lead: each new lead must be called by a rep within its source's SLA.

The clock starts when the lead arrives, or when its calling hours open if it arrived outside
them; a rep's first call stops it (automated texts and emails do not count).
"""

import datetime

from leads.models import Lead


def sla_clock_start(*, lead: Lead, sla_minutes: int) -> None:
    """Set when the lead's first call is due, from its stored calling window."""
    if lead.first_attempt_at is not None or lead.callable_at is None:
        due = None
    else:
        due = max(lead.received_at, lead.callable_at) + datetime.timedelta(minutes=sla_minutes)
    lead.sla_due_at = due
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=due)
