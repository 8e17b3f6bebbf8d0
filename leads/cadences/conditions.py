"""Whether a cadence's touch, now due, should still go: checked when it falls due.

The stops (leads.cadences.engine.cadence_stop) cancel a cadence's touches as soon as a reply,
a contact or a final status is recorded; a stop queued by name (compliance) can be lost with
Redis, so the facts are read again here, from the database, before each touch goes.

Both the send path (leads.cadences.outbound) and the clock's call alerts
(leads.workspace.alerts) ask it, just before the gate.
"""

from collections.abc import Sequence

from compliance.keywords import Intent, classify
from leads.choices import Channel
from leads.models import (
    CadenceEnrollment,
    CadenceStep,
    ContactAttempt,
    Direction,
    EnrollmentStatus,
    Touch,
)

CONTACTED = "Skipped: a rep has spoken with the lead (the step runs only until then)."
REPLIED = "Skipped: the lead replied by text."


def cadence_skip_reasons(*, touches: Sequence[Touch]) -> dict[int, str]:
    """Why each of these due touches is not to be made, by touch id (three queries)."""
    touches = [touch for touch in touches if touch.cadence_step_id is not None]
    if not touches:
        return {}
    lead_ids = {touch.lead_id for touch in touches}
    only_until_contact = set(
        CadenceStep.objects.filter(
            pk__in={touch.cadence_step_id for touch in touches}, only_if_not_contacted=True
        ).values_list("pk", flat=True)
    )
    enrollments = {
        lead_id: (status, stop_reason, started_at)
        for lead_id, status, stop_reason, started_at in CadenceEnrollment.objects.filter(
            lead_id__in=lead_ids
        ).values_list("lead_id", "status", "stop_reason", "started_at")
    }
    replied = {
        lead_id
        for lead_id, started_at, body in ContactAttempt.objects.filter(
            lead_id__in=lead_ids, direction=Direction.INBOUND, channel=Channel.SMS
        ).values_list("lead_id", "started_at", "notes")
        if lead_id in enrollments
        and started_at >= enrollments[lead_id][2]
        and classify(body) == Intent.OTHER
    }
    reasons = {}
    for touch in touches:
        status, stop_reason, _ = enrollments.get(touch.lead_id, ("", "", None))
        if touch.cadence_step_id in only_until_contact and touch.lead.first_contact_at:
            reasons[touch.pk] = CONTACTED
        elif status == EnrollmentStatus.STOPPED:
            reasons[touch.pk] = f"Skipped: the cadence stopped ({stop_reason or 'no reason'})."
        elif touch.lead_id in replied:
            reasons[touch.pk] = REPLIED
    return reasons


def cadence_skip_reason(*, touch: Touch) -> str | None:
    """Why this due cadence touch is not to be made, or None when it may go (to the gate)."""
    return cadence_skip_reasons(touches=[touch]).get(touch.pk)
