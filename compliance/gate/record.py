"""Keeping each decision with the contact it governed, as evidence of what was allowed and why."""

import datetime

from compliance.gate.evaluate import Decision
from compliance.models import ContactDecision


def decision_record(
    *,
    decision: Decision,
    lead,
    channel: str,
    stage: str,
    decided_for: datetime.datetime,
    purpose: str,
    automated: bool,
    attempt=None,
    touch=None,
    requested_by=None,
) -> ContactDecision:
    """Store one decision of the gate with the lead, touch or attempt it was asked for."""
    record = _decision_row(
        decision=decision,
        lead=lead,
        channel=channel,
        stage=stage,
        decided_for=decided_for,
        purpose=purpose,
        automated=automated,
        attempt=attempt,
        touch=touch,
        requested_by=requested_by,
    )
    record.save()
    return record


def decisions_record(requests: list[dict]) -> list[ContactDecision]:
    """Store many decisions at once; each request holds `decision_record`'s arguments."""
    return ContactDecision.objects.bulk_create([_decision_row(**request) for request in requests])


def _decision_row(
    *,
    decision: Decision,
    lead,
    channel: str,
    stage: str,
    decided_for: datetime.datetime,
    purpose: str,
    automated: bool,
    attempt=None,
    touch=None,
    requested_by=None,
) -> ContactDecision:
    return ContactDecision(
        lead=lead,
        channel=channel,
        purpose=purpose,
        automated=automated,
        stage=stage,
        decided_for=decided_for,
        allowed=decision.allowed,
        first_reason=decision.reasons[0].code if decision.reasons else "",
        reasons=[reason.as_dict() for reason in decision.reasons],
        next_allowed_at=decision.next_allowed_at,
        attempt=attempt,
        touch=touch,
        requested_by=requested_by,
    )
