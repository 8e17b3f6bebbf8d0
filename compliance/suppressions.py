"""Opt-outs: recording them, and what they revoke. Entries are never deleted."""

import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.models import (
    ConsentRecord,
    RevocationMeans,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)

REVOCATION_MEANS = {
    SuppressionOrigin.SMS_KEYWORD: RevocationMeans.SMS_KEYWORD,
    SuppressionOrigin.REP: RevocationMeans.VERBAL,
    SuppressionOrigin.EMAIL_UNSUBSCRIBE: RevocationMeans.EMAIL,
    SuppressionOrigin.API: RevocationMeans.API,
    SuppressionOrigin.MANAGER: RevocationMeans.WEB,
    SuppressionOrigin.DNC_LIST: RevocationMeans.WEB,
}


def _consents_of(*, phone: str, email: str):
    match = Q()
    if phone:
        match |= Q(lead__phone=phone)
    if email:
        match |= Q(lead__email=email.strip().lower())
    return ConsentRecord.objects.filter(match, revoked_at__isnull=True)


def _revoke(consents, *, at: datetime.datetime, means: str, reason: str) -> int:
    revoked = 0
    for consent in consents.select_for_update():
        consent.revoked_at, consent.revocation_means = at, means
        consent._change_reason = reason
        consent.save(update_fields=["revoked_at", "revocation_means"])
        revoked += 1
    return revoked


@transaction.atomic
def suppression_add(
    *,
    origin: str,
    phone: str = "",
    email: str = "",
    scope: str = SuppressionScope.ALL,
    reason: str = "",
    lead=None,
    recorded_by=None,
    received_at: datetime.datetime | None = None,
) -> Suppression:
    """Record an opt-out and revoke the consent it covers, both from this moment.

    An opt-out on one channel ends marketing on every channel of this business (the gate
    reads any suppression of the lead's phone or email), and the law's 10 business days are
    a maximum, not a delay to use (47 CFR 64.1200(a)(10)).
    """
    received_at = received_at or timezone.now()
    suppression = Suppression.objects.create(
        phone=phone,
        email=email,
        channel_scope=scope,
        origin=origin,
        reason=reason,
        lead=lead,
        recorded_by=recorded_by,
        received_at=received_at,
    )
    means = REVOCATION_MEANS.get(origin, RevocationMeans.WEB)
    _revoke(
        _consents_of(phone=phone, email=email),
        at=received_at,
        means=means,
        reason=f"Opt-out: {suppression.get_origin_display()}",
    )
    return suppression


@transaction.atomic
def consent_reassigned_record(*, phone: str, reassigned_on: datetime.date) -> int:
    """Revoke consent given for this number before it was reassigned to someone else.

    A "yes" from the Reassigned Numbers Database (number disconnected after the consent
    date) means the consent came from a previous holder of the number (47 CFR 64.1200(m)).
    Returns how many consent records it revoked.
    """
    cutoff = datetime.datetime.combine(reassigned_on, datetime.time.min, tzinfo=datetime.UTC)
    consents = _consents_of(phone=phone, email="").filter(captured_at__lt=cutoff)
    return _revoke(
        consents,
        at=timezone.now(),
        means=RevocationMeans.REASSIGNED,
        reason=f"Number reassigned on {reassigned_on:%Y-%m-%d}",
    )
