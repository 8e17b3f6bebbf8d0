"""The fast lane: what becomes of a new lead in the second after intake stored it.

Each lead is processed on its own, in one transaction that writes its first history rows,
scores it, marks it processed (`Lead.processed_at`), routes it to a rep
(leads.workspace.routing) and enrols it in its cadence (leads.cadences), whose first texts
and emails go out as soon as that transaction commits, when the gate allows. A lead claimed
by another worker, or processed already, is skipped, so a lead handed off twice is processed
once. A lead that fails is counted; the clock's sweep tries it again until it has failed
FAST_LANE_MAX_FAILURES times, then leaves it to a person (the admin's "fast lane: failed"
filter). One bad lead never holds back the others.

This module sits above every stage: it imports them, none imports it.
"""

import datetime
import logging
from collections.abc import Iterable

from django.db import OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from compliance.models import ConsentRecord
from leads.cadences.engine import cadence_start
from leads.feedback.returns import returns_auto_for_duplicate
from leads.models import Lead
from leads.scoring import lead_score
from leads.workspace.queue import leads_queue_refresh
from leads.workspace.routing import lead_route
from leads.workspace.sla import sla_clock_start

logger = logging.getLogger(__name__)

RECEIVED = "Received from the source"
SCORED = "Scored by the fast lane"
# The sweep leaves alone leads received this recently: their hand-off is still on its way.
SWEEP_GRACE = datetime.timedelta(seconds=15)
SWEEP_LIMIT = 500


def leads_process(*, lead_ids: Iterable[int]) -> int:
    """Process each of these leads on its own; return how many were processed now."""
    processed = 0
    for lead_id in lead_ids:
        try:
            processed += lead_process(lead_id=lead_id)
        except OperationalError:
            raise  # the database is away: the task is retried, nothing is counted
        except Exception:
            logger.exception("The fast lane failed on lead %s", lead_id)
            Lead.objects.filter(pk=lead_id).update(fast_lane_failures=F("fast_lane_failures") + 1)
    return processed


def lead_process(*, lead_id: int) -> bool:
    """Record, score and mark one new lead in one transaction; False if there was nothing to
    do (processed already, or being processed by another worker)."""
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source")
            .filter(pk=lead_id, processed_at__isnull=True)
            .first()
        )
        if lead is None:
            return False
        consents = list(ConsentRecord.objects.filter(lead=lead).order_by("pk"))
        _intake_history_record(lead, consents)
        score = lead_score(
            lead=lead,
            consent_channels={
                channel
                for consent in consents
                if consent.revoked_at is None
                for channel in consent.channels
            },
        )
        lead.score, lead.score_factors = score.total, score.as_stored()
        lead.processed_at = timezone.now()
        lead._change_reason = SCORED
        lead.save(update_fields=["score", "score_factors", "processed_at", "updated_at"])
        lead_route(lead=lead, at=lead.processed_at)
        # Its first texts and emails are queued to send when this transaction commits.
        cadence_start(lead=lead, at=lead.processed_at)
        leads_queue_refresh(leads=[lead], at=lead.processed_at)
        sla_clock_start(lead=lead, sla_minutes=lead.source.sla_minutes)
        returns_auto_for_duplicate(lead=lead)
    return True


def _intake_history_record(lead: Lead, consents: list[ConsentRecord]) -> None:
    """Write the lead's and its consents' first history rows, dated when they arrived.

    Written here rather than in the request: intake stays one statement per lead.
    """
    lead._history_date = lead.received_at  # simple_history's per-object date
    Lead.history.bulk_history_create([lead], default_change_reason=RECEIVED)
    for consent in consents:
        consent._history_date = consent.created_at
    ConsentRecord.history.bulk_history_create(consents)


def unprocessed_leads_process(*, now: datetime.datetime | None = None) -> int:
    """Process leads the fast lane missed (a lost hand-off, a killed worker) or failed on
    fewer than FAST_LANE_MAX_FAILURES times; return how many. Run by the clock."""
    until = (now or timezone.now()) - SWEEP_GRACE
    lead_ids = list(
        Lead.objects.unprocessed()
        .filter(received_at__lte=until)
        .order_by("received_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    if not lead_ids:
        return 0
    logger.warning("Processing %d lead(s) that missed the fast lane", len(lead_ids))
    return leads_process(lead_ids=lead_ids)


def leads_fast_lane_retry(*, leads: QuerySet) -> int:
    """Give leads the fast lane gave up on three more tries (the sweep takes them)."""
    return leads.fast_lane_failed().update(fast_lane_failures=0)
