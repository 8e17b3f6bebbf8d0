"""A lead's evidence pack: everything a dispute with a vendor or a lawsuit asks about, in one ZIP.

`evidence.json` for machines, `evidence.html` to read and print, and `SHA256SUMS` naming
both files' fingerprints. Every record of each kind is included (no page caps: evidence must
be whole), every time in UTC and in the lead's local time with the zone's name.
"""

import datetime
import hashlib
import io
import json
import zipfile
import zoneinfo

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.models import ContactDecision, Suppression
from leads.models import Lead

UTC = datetime.UTC


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


class _Clock:
    """Writes an instant in UTC and in the lead's own zone."""

    def __init__(self, lead: Lead):
        try:
            self.zone = zoneinfo.ZoneInfo(lead.time_zone) if lead.time_zone else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.zone = None
        self.zone_name = self.zone.key if self.zone else "UTC (the lead's zone is unknown)"

    def __call__(self, moment: datetime.datetime | None) -> dict | None:
        if moment is None:
            return None
        utc = moment.astimezone(UTC)
        local = moment.astimezone(self.zone or UTC)
        return {
            "utc": utc.isoformat().replace("+00:00", "Z"),
            "local": local.isoformat(),
            "zone": self.zone_name,
            "text": f"{utc:%Y-%m-%d %H:%M:%S} UTC · {local:%a %b %-d %Y, %H:%M:%S %Z}",
        }


def lead_evidence(*, lead: Lead) -> dict:
    """Return every record of the lead a dispute needs, as plain data."""
    at = _Clock(lead)
    opt_out_match = Q(lead=lead) | Q(phone=lead.phone)
    if lead.email:
        opt_out_match |= Q(email=lead.email)
    return {
        "generated_at": at(timezone.now()),
        "lead": {
            "id": lead.pk,
            "source": lead.source.name,
            "source_lead_id": lead.source_lead_id,
            "campaign": lead.campaign,
            "received_at": at(lead.received_at),
            "name": lead.full_name,
            "phone": str(lead.phone),
            "phone_type": lead.phone_type,
            "email": lead.email,
            "address": ", ".join(
                part for part in (lead.street, lead.city, lead.state, lead.zip_code) if part
            ),
            "time_zone": at.zone_name,
            "area_code_time_zones": lead.area_code_time_zones,
            "product": lead.product,
            "status": lead.status,
            "cost": f"{lead.cost:.2f}",
            "exclusive": lead.is_exclusive,
            "quality_flags": lead.quality_flags,
        },
        "consents": [
            {
                "id": consent.pk,
                "channels": consent.channels,
                "seller_names": consent.seller_names,
                "disclosure_text": consent.disclosure_text,
                "disclosure_sha256": consent.disclosure_sha256,
                "captured_at": at(consent.captured_at),
                "capture_method": consent.get_capture_method_display(),
                "ip_address": consent.ip_address,
                "user_agent": consent.user_agent,
                "page_url": consent.page_url,
                "trustedform_cert_url": consent.trustedform_cert_url,
                "jornaya_leadid": consent.jornaya_leadid,
                "revoked_at": at(consent.revoked_at),
                "revocation_means": consent.get_revocation_means_display(),
                "recorded_at": at(consent.created_at),
            }
            for consent in lead.consents.order_by("captured_at", "pk")
        ],
        "gate_decisions": [
            {
                "id": decision.pk,
                "channel": decision.channel,
                "purpose": decision.purpose,
                "automated": decision.automated,
                "stage": decision.get_stage_display(),
                "decided_for": at(decision.decided_for),
                "allowed": decision.allowed,
                "reasons": [
                    reason.get("message", reason.get("code", "")) for reason in decision.reasons
                ],
                "reason_codes": [reason.get("code", "") for reason in decision.reasons],
                "next_allowed_at": at(decision.next_allowed_at),
                "attempt_id": decision.attempt_id,
                "touch_id": decision.touch_id,
                "requested_by": _person(decision.requested_by),
                "recorded_at": at(decision.created_at),
            }
            for decision in ContactDecision.objects.filter(lead=lead)
            .select_related("requested_by")
            .order_by("created_at", "pk")
        ],
        "attempts": [
            {
                "id": attempt.pk,
                "channel": attempt.channel,
                "direction": attempt.direction,
                "rep": _person(attempt.rep) or "automated",
                "started_at": at(attempt.started_at),
                "ended_at": at(attempt.ended_at),
                "duration_seconds": attempt.duration_seconds,
                "disposition": attempt.get_disposition_display(),
                "notes": attempt.notes,
            }
            for attempt in lead.attempts.select_related("rep").order_by("started_at", "pk")
        ],
        "messages": [
            {
                "id": touch.pk,
                "channel": touch.channel,
                "purpose": touch.purpose,
                "automated": touch.automated,
                "subject": touch.subject,
                "body": touch.body,
                "status": touch.get_status_display(),
                "status_note": touch.status_note,
                "due_at": at(touch.due_at),
                "sent_at": at(touch.sent_at),
                "delivered_at": at(touch.delivered_at),
                "provider_message_id": touch.provider_message_id,
                "attempt_id": touch.attempt_id,
                "written_by": _person(touch.created_by) or "automated",
                "recorded_at": at(touch.created_at),
            }
            for touch in lead.touches.select_related("created_by").order_by("created_at", "pk")
        ],
        "opt_outs": [
            {
                "id": entry.pk,
                "phone": str(entry.phone) if entry.phone else "",
                "email": entry.email,
                "scope": entry.get_channel_scope_display(),
                "origin": entry.get_origin_display(),
                "reason": entry.reason,
                "received_at": at(entry.received_at),
                "from_this_lead": entry.lead_id == lead.pk,
                "recorded_by": _person(entry.recorded_by),
                "confirmation_sent_at": at(entry.confirmation_sent_at),
            }
            for entry in Suppression.objects.filter(opt_out_match)
            .select_related("recorded_by")
            .order_by("received_at", "pk")
        ],
        "conversions": [
            {
                "kind": conversion.kind,
                "revenue": f"{conversion.revenue:.2f}" if conversion.revenue is not None else None,
                "occurred_at": at(conversion.occurred_at),
                "origin": conversion.get_origin_display(),
            }
            for conversion in lead.conversions.order_by("occurred_at", "pk")
        ],
        "returns": [
            {
                "reason": lead_return.get_reason_display(),
                "status": lead_return.get_status_display(),
                "credit": f"{lead_return.credit:.2f}",
                "requested_at": at(lead_return.requested_at),
                "decided_at": at(lead_return.decided_at),
                "note": lead_return.note,
            }
            for lead_return in lead.returns.order_by("requested_at", "pk")
        ],
        "assignments": [
            {
                "from_rep": _person(row.from_rep) or "the pool",
                "to_rep": _person(row.to_rep) or "the pool",
                "reason": row.get_reason_display(),
                "note": row.note,
                "by": _person(row.assigned_by) or "the system",
                "at": at(row.created_at),
            }
            for row in lead.assignments.select_related(
                "from_rep", "to_rep", "assigned_by"
            ).order_by("created_at", "pk")
        ],
        "status_history": [
            {
                "status": record.status,
                "owner_id": record.owner_id,
                "at": at(record.history_date),
                "by": _person(record.history_user),
                "why": record.history_change_reason or "",
            }
            for record in lead.history.select_related("history_user").order_by(
                "history_date", "history_id"
            )
        ],
    }


def lead_evidence_pack(*, lead: Lead) -> bytes:
    """Return the lead's evidence pack: a ZIP of evidence.json, evidence.html, SHA256SUMS."""
    evidence = lead_evidence(lead=lead)
    files = {
        "evidence.json": json.dumps(evidence, indent=2, ensure_ascii=False).encode(),
        "evidence.html": render_to_string("leads/evidence.html", {"e": evidence}).encode(),
    }
    sums = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        for name, body in {**files, "SHA256SUMS": sums.encode()}.items():
            pack.writestr(name, body)
    return buffer.getvalue()


def evidence_file_name(lead: Lead) -> str:
    return f"lead-{lead.pk}-evidence-{timezone.now():%Y%m%dT%H%M%SZ}.zip"
