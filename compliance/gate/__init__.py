"""The one decision every contact must pass: may this lead be contacted on this channel now?

`decide` answers for one lead and `decide_many` for many; both read the facts first
(`facts`) and then apply the rules (`evaluate`), which read nothing from the database, so the
two cannot disagree. `contact_check` decides and keeps the decision (`record`).
"""

import datetime
from collections.abc import Iterable

from django.utils import timezone

from compliance.choices import Purpose
from compliance.gate.evaluate import (
    REGISTRY_MAX_AGE,
    ConsentFacts,
    Decision,
    GateFacts,
    LeadFacts,
    Registry,
    SuppressionFacts,
    contact_evaluate,
    longest_cap_window,
    opt_outs_in_force,
)
from compliance.gate.facts import candidate_places, facts_read, registry_read
from compliance.gate.record import decision_record
from compliance.models import ContactDecision
from compliance.unsubscribe import email_requirements_missing
from leads.models import ContactAttempt, Lead

__all__ = [
    "CHUNK",
    "REGISTRY_MAX_AGE",
    "ConsentFacts",
    "Decision",
    "GateFacts",
    "LeadFacts",
    "Registry",
    "SuppressionFacts",
    "candidate_places",
    "contact_check",
    "contact_evaluate",
    "decide",
    "decide_many",
    "opt_outs_in_force",
    "registry_read",
]

CHUNK = 1000  # requests whose facts decide_many reads together


def decide(
    lead: Lead,
    channel: str,
    at: datetime.datetime,
    *,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
) -> Decision:
    """Decide whether this lead may be contacted on this channel at this instant."""
    return decide_many([(lead, channel, at)], purpose=purpose, automated=automated)[0]


def decide_many(
    requests: Iterable[tuple[Lead, str, datetime.datetime]],
    *,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
) -> list[Decision]:
    """Decide for many (lead, channel, instant) requests at once, in order."""
    requests = list(requests)
    email_problems = email_requirements_missing()
    decisions: list[Decision] = []
    for start in range(0, len(requests), CHUNK):
        chunk = requests[start : start + CHUNK]
        since = min(at for _, _, at in chunk) - longest_cap_window()
        facts, registry = facts_read(leads=[lead for lead, _, _ in chunk], since=since)
        decisions.extend(
            contact_evaluate(
                facts=facts[lead.pk],
                channel=channel,
                at=at,
                purpose=purpose,
                automated=automated,
                registry=registry,
                email_problems=email_problems,
            )
            for lead, channel, at in chunk
        )
    return decisions


def contact_check(
    *,
    lead: Lead,
    channel: str,
    stage: str,
    at: datetime.datetime | None = None,
    purpose: str = Purpose.MARKETING,
    automated: bool = True,
    attempt: ContactAttempt | None = None,
    touch=None,
    requested_by=None,
) -> tuple[Decision, ContactDecision]:
    """Decide, and keep the decision with the contact it governs."""
    at = at or timezone.now()
    decision = decide(lead, channel, at, purpose=purpose, automated=automated)
    record = decision_record(
        decision=decision,
        lead=lead,
        channel=channel,
        stage=stage,
        decided_for=at,
        purpose=purpose,
        automated=automated,
        attempt=attempt,
        touch=touch,
        requested_by=requested_by,
    )
    return decision, record
