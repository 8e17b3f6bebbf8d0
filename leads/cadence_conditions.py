"""Whether a cadence's touch, now due, should still go: checked when it falls due.

Outside leads.cadences on purpose: the cadence engine schedules its texts and emails through
leads.touches, and leads.touches asks this module right before the gate, so the rule has to
sit below both for the imports to run one way.
"""

from collections.abc import Sequence

from leads.models import CadenceEnrollment, CadenceStep, EnrollmentStatus, Touch

CONTACTED = "Skipped: a rep has spoken with the lead (the step runs only until then)."


def cadence_skip_reasons(*, touches: Sequence[Touch]) -> dict[int, str]:
    """Why each of these due touches is not to be made, by touch id; touches that may go
    (to the gate) are left out. Two queries, however many touches."""
    touches = [touch for touch in touches if touch.cadence_step_id is not None]
    if not touches:
        return {}
    only_until_contact = set(
        CadenceStep.objects.filter(
            pk__in={touch.cadence_step_id for touch in touches}, only_if_not_contacted=True
        ).values_list("pk", flat=True)
    )
    stopped = dict(
        CadenceEnrollment.objects.filter(
            lead_id__in={touch.lead_id for touch in touches}, status=EnrollmentStatus.STOPPED
        ).values_list("lead_id", "stop_reason")
    )
    reasons = {}
    for touch in touches:
        if touch.cadence_step_id in only_until_contact and touch.lead.first_contact_at:
            reasons[touch.pk] = CONTACTED
        elif touch.lead_id in stopped:
            why = stopped[touch.lead_id] or "no reason given"
            reasons[touch.pk] = f"Skipped: the cadence stopped ({why})."
    return reasons


def cadence_skip_reason(*, touch: Touch) -> str | None:
    """Why this due cadence touch is not to be made, or None when it may go (to the gate)."""
    return cadence_skip_reasons(touches=[touch]).get(touch.pk)
