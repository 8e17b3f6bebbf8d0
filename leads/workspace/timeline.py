"""One timeline of everything that happened to a lead, newest first, for its page.

Read in a fixed number of queries whatever the lead's history (each kind of record once,
each capped), so the page stays fast for a lead called a hundred times.
"""

import datetime
import itertools
from dataclasses import dataclass

from compliance.models import ContactDecision
from leads.choices import Channel
from leads.models import Lead, LeadStatus, TouchStatus

PER_KIND = 100  # the newest records of each kind the page shows


@dataclass(frozen=True)
class Event:
    at: datetime.datetime
    kind: str  # intake, assignment, call, message, note, status, score, compliance, conversion
    title: str
    detail: str = ""
    who: str = ""


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def _decision_text(decision: ContactDecision) -> str:
    if decision.allowed:
        return f"Gate ({decision.get_stage_display().lower()}): allowed"
    messages = " ".join(reason.get("message", "") for reason in decision.reasons)
    return f"Gate ({decision.get_stage_display().lower()}): refused. {messages}".strip()


def lead_timeline(*, lead: Lead) -> list[Event]:
    """Every event of the lead, newest first."""
    events = [
        Event(
            lead.received_at,
            "intake",
            f"Received from {lead.source}",
            f"Their id {lead.source_lead_id}; cost ${lead.cost:,.2f}"
            + ("; exclusive" if lead.is_exclusive else "; shared"),
        )
    ]
    events += _assignments(lead) + _attempts(lead) + _touches(lead) + _refused_calls(lead)
    events += _notes(lead) + _changes(lead) + _opt_outs(lead) + _conversions(lead)
    events.sort(key=lambda event: event.at, reverse=True)
    return events


def _assignments(lead: Lead) -> list[Event]:
    rows = lead.assignments.select_related("from_rep", "to_rep", "assigned_by")[:PER_KIND]
    return [
        Event(
            row.created_at,
            "assignment",
            f"Assigned to {_person(row.to_rep)}" if row.to_rep else "Back to the unassigned pool",
            row.get_reason_display() + (f": {row.note}" if row.note else ""),
            _person(row.assigned_by),
        )
        for row in rows
    ]


def _attempts(lead: Lead) -> list[Event]:
    events = []
    # A text or email the system sent shows as its touch, with its gate decisions.
    for attempt in lead.attempts.filter(touch__isnull=True).select_related("rep")[:PER_KIND]:
        inbound = attempt.direction == "inbound"
        noun = {Channel.CALL: "Call", Channel.SMS: "Text", Channel.EMAIL: "Email"}[attempt.channel]
        if inbound:
            title = f"{noun} from the lead"
        elif attempt.channel == Channel.CALL:
            outcome = attempt.get_disposition_display() or "no outcome logged yet"
            talk = f", {attempt.duration_seconds} s" if attempt.duration_seconds else ""
            title = f"Call: {outcome}{talk}"
        else:
            title = f"{noun} sent"
        events.append(
            Event(
                attempt.started_at,
                "call" if attempt.channel == Channel.CALL else "message",
                title,
                attempt.notes,
                _person(attempt.rep) or ("" if inbound else "automated"),
            )
        )
    return events


def _touches(lead: Lead) -> list[Event]:
    touches = list(lead.touches.select_related("created_by", "attempt__rep")[:PER_KIND])
    decisions: dict[int, list[ContactDecision]] = {}
    for decision in ContactDecision.objects.filter(
        touch_id__in=[touch.pk for touch in touches]
    ).order_by("created_at"):
        decisions.setdefault(decision.touch_id, []).append(decision)
    events = []
    for touch in touches:
        gate = " · ".join(_decision_text(d) for d in decisions.get(touch.pk, []))
        if touch.channel == Channel.CALL and touch.automated:
            events.append(_bridge_event(touch, gate))
            continue
        if touch.channel == Channel.CALL:
            noun = (
                "Callback"
                if touch.created_by_id
                else "Lead-to-call"
                if touch.automated
                else "Cadence call task"
            )
            title = f"{noun} for {touch.due_at:%b %-d %H:%M} UTC: {touch.get_status_display()}"
            detail = touch.body
        else:
            noun = "Text" if touch.channel == Channel.SMS else "Email"
            title = f"{noun} {touch.get_status_display().lower()}"
            detail = (f"{touch.subject}: " if touch.subject else "") + touch.body[:200]
        if touch.status_note and touch.status not in (TouchStatus.SENT, TouchStatus.DONE):
            detail = f"{detail} ({touch.status_note})"
        kind = "compliance" if touch.status == TouchStatus.BLOCKED else "message"
        if gate:
            detail = f"{detail}\n{gate}"
        events.append(Event(touch.created_at, kind, title, detail, _person(touch.created_by)))
    return events


def _talk_time(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _bridge_event(touch, gate: str) -> Event:
    """A lead-to-call bridge as a rep reads it: "connected 3 min 12 s with Alex", at the
    call's time once the lead was dialled."""
    attempt, title = touch.attempt, "Lead-to-call bridge"
    if attempt is None:
        when = f" for {touch.due_at:%b %-d %H:%M} UTC" if touch.status == "scheduled" else ""
        detail = "\n".join(part for part in (touch.status_note, gate) if part)
        kind = "compliance" if touch.status == TouchStatus.BLOCKED else "call"
        return Event(
            touch.created_at, kind, f"{title}{when}: {touch.get_status_display().lower()}", detail
        )
    rep = _person(attempt.rep)
    if attempt.ended_at is None:
        title += f": {rep} is on the call" if rep else ": on the call"
    elif attempt.duration_seconds:
        title += f": connected {_talk_time(attempt.duration_seconds)}"
        title += f" with {rep}" if rep else ""
        if attempt.disposition:
            title += f" · {attempt.get_disposition_display()}"
    else:
        title += f": {attempt.get_disposition_display().lower() or 'not connected'}"
        title += f" ({rep} called)" if rep else ""
    return Event(attempt.started_at, "call", title, gate, rep)


def _refused_calls(lead: Lead) -> list[Event]:
    rows = ContactDecision.objects.filter(
        lead=lead, channel=Channel.CALL, allowed=False, touch__isnull=True
    ).select_related("requested_by")[:PER_KIND]
    return [
        Event(
            row.created_at,
            "compliance",
            "Call refused",
            _decision_text(row),
            _person(row.requested_by),
        )
        for row in rows
    ]


def _notes(lead: Lead) -> list[Event]:
    return [
        Event(note.created_at, "note", "Note", note.body, _person(note.author))
        for note in lead.notes.select_related("author")[:PER_KIND]
    ]


def _changes(lead: Lead) -> list[Event]:
    """Status and score changes, from the lead's own history."""
    rows = list(
        lead.history.order_by("-history_date")
        .select_related("history_user")
        .only("status", "score", "history_date", "history_change_reason", "history_user")[
            : PER_KIND * 2
        ]
    )
    rows.reverse()
    events = []
    for before, after in itertools.pairwise(rows):
        who = _person(after.history_user)
        why = after.history_change_reason or ""
        if before.status != after.status:
            events.append(
                Event(
                    after.history_date,
                    "status",
                    f"Status: {LeadStatus(before.status).label} → {LeadStatus(after.status).label}",
                    why,
                    who,
                )
            )
        if before.score != after.score:
            events.append(
                Event(
                    after.history_date, "score", f"Score {before.score} → {after.score}", why, who
                )
            )
    return events


def _opt_outs(lead: Lead) -> list[Event]:
    return [
        Event(
            row.received_at,
            "compliance",
            f"Opted out ({row.get_channel_scope_display()})",
            f"{row.get_origin_display()}" + (f": {row.reason}" if row.reason else ""),
            _person(row.recorded_by),
        )
        for row in lead.suppressions.select_related("recorded_by")[:PER_KIND]
    ]


def _conversions(lead: Lead) -> list[Event]:
    return [
        Event(
            row.occurred_at,
            "conversion",
            row.get_kind_display() + (f" · ${row.revenue:,.2f}" if row.revenue is not None else ""),
            row.get_origin_display(),
            _person(row.recorded_by),
        )
        for row in lead.conversions.select_related("recorded_by")[:PER_KIND]
    ]
