"""Marketing-email unsubscribe: signed links, one-click headers, the footer, and the opt-out.

CAN-SPAM (15 U.S.C. 7704(a)(3)-(5)) requires a working opt-out in every marketing email, kept
working for at least 30 days and honoured within 10 business days, and the sender's postal
address. Links here never expire and take effect at once.
"""

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse

from compliance.models import Suppression, SuppressionOrigin, SuppressionScope, UnsubscribeLink
from compliance.suppressions import suppression_add
from leads.models import Lead

TOKEN_SALT = "compliance.unsubscribe"
DEVELOPMENT_SITE_URL = "http://127.0.0.1:8000"
REASON_BY_VIA = {
    "link": "Unsubscribe link",
    "one_click": "One-click unsubscribe",
}


class InvalidUnsubscribeToken(ValueError):
    """The unsubscribe token was not signed by this site, or was altered."""


def _normalized(email: str) -> str:
    return email.strip().lower()


def unsubscribe_token(*, email: str, lead_id: int | None = None) -> str:
    """Return the opaque, URL-safe token of this address's (and lead's) unsubscribe link.

    Random and stored (UnsubscribeLink): the link carries no address or id anyone can read.
    """
    email = _normalized(email)
    link = UnsubscribeLink.objects.filter(email=email, lead_id=lead_id).first()
    if link is None:
        try:
            with transaction.atomic():
                link = UnsubscribeLink.objects.create(email=email, lead_id=lead_id)
        except IntegrityError:  # made meanwhile for the same address
            link = UnsubscribeLink.objects.get(email=email, lead_id=lead_id)
    return link.token


def unsubscribe_urls(*, recipients: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Return the unsubscribe URL of each (email, lead id), in two queries for any number.

    Keyed by the recipient as given; the links are those `unsubscribe_token` makes.
    """
    wanted = {(_normalized(email), lead_id): (email, lead_id) for email, lead_id in recipients}
    if not wanted:
        return {}

    def read() -> dict[tuple[str, int], str]:
        links = UnsubscribeLink.objects.filter(
            email__in={email for email, _ in wanted}, lead_id__in={lead for _, lead in wanted}
        ).values_list("email", "lead_id", "token")
        return {(email, lead): token for email, lead, token in links if (email, lead) in wanted}

    tokens = read()
    missing = [key for key in wanted if key not in tokens]
    if missing:
        UnsubscribeLink.objects.bulk_create(
            [UnsubscribeLink(email=email, lead_id=lead_id) for email, lead_id in missing],
            ignore_conflicts=True,  # made meanwhile for the same recipient
        )
        tokens = read()
    return {
        given: _site_url() + reverse("compliance:unsubscribe", args=[tokens[key]])
        for key, given in wanted.items()
    }


def unsubscribe_token_read(*, token: str) -> tuple[str, int | None]:
    """Return the (email, lead_id) a token names, or raise InvalidUnsubscribeToken.

    Reads the stored links, and the signed tokens sent before them (which named the address
    and lead in readable base64): those stay valid for good, as the law wants them working.
    """
    if ":" not in token:  # signed tokens always hold a ":" between value and signature
        link = UnsubscribeLink.objects.filter(token=token).first()
        if link is None:
            raise InvalidUnsubscribeToken("This unsubscribe link is not valid.")
        return link.email, link.lead_id
    return _signed_token_read(token)


def _signed_token_read(token: str) -> tuple[str, int | None]:
    # No max_age: the opt-out must keep working long after the email was sent.
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature as error:
        raise InvalidUnsubscribeToken("This unsubscribe link is not valid.") from error
    match payload:
        case [str(email)] if email:
            return email, None
        case [str(email), int(lead_id)] if email:
            return email, lead_id
    raise InvalidUnsubscribeToken("This unsubscribe link is not valid.")


def _site_url() -> str:
    return (getattr(settings, "SITE_URL", DEVELOPMENT_SITE_URL) or DEVELOPMENT_SITE_URL).rstrip("/")


def unsubscribe_url(*, email: str, lead_id: int | None = None) -> str:
    """Return the absolute unsubscribe URL for this recipient."""
    token = unsubscribe_token(email=email, lead_id=lead_id)
    return _site_url() + reverse("compliance:unsubscribe", args=[token])


def list_unsubscribe_headers(
    *, email: str, lead_id: int | None = None, url: str = ""
) -> dict[str, str]:
    """Return the List-Unsubscribe headers for a marketing email to this recipient.

    RFC 8058: an HTTPS URI in List-Unsubscribe plus "List-Unsubscribe-Post:
    List-Unsubscribe=One-Click" lets mail clients unsubscribe with one POST, no page shown.
    `url` is the recipient's `unsubscribe_url`, when the caller has it already.
    """
    targets = [f"<{url or unsubscribe_url(email=email, lead_id=lead_id)}>"]
    mailbox = getattr(settings, "UNSUBSCRIBE_MAILTO", "").removeprefix("mailto:")
    if mailbox:
        targets.append(f"<mailto:{mailbox}?subject=unsubscribe>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def email_unsubscribe(*, token: str, via: str = "link") -> Suppression:
    """Unsubscribe the address a token names from marketing email, from this moment.

    Idempotent: an address already unsubscribed keeps its first entry and gains none. Two
    clicks at the same instant may both record one; an extra entry is harmless evidence.
    """
    reason = REASON_BY_VIA[via]
    email, lead_id = unsubscribe_token_read(token=token)
    existing = (
        Suppression.objects.filter(email=email, origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE)
        .order_by("received_at")
        .first()
    )
    if existing:
        return existing
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id is not None else None
    return suppression_add(
        origin=SuppressionOrigin.EMAIL_UNSUBSCRIBE,
        email=email,
        scope=SuppressionScope.EMAIL,
        lead=lead,
        reason=reason,
    )


def business_name() -> str:
    """Return how pages and emails name the business, or "" when nothing is configured."""
    sellers = getattr(settings, "SELLER_NAMES", [])
    return getattr(settings, "BUSINESS_NAME", "") or (sellers[0] if sellers else "")


def marketing_email_footer(*, email: str, lead_id: int | None = None, url: str = "") -> str:
    """Return the plain-text footer every marketing email carries: who, where, how to stop.

    `url` is the recipient's `unsubscribe_url`, when the caller has it already."""
    lines = ["--"]
    if name := business_name():
        lines.append(name)
    if address := getattr(settings, "BUSINESS_POSTAL_ADDRESS", ""):
        lines.append(address)
    lines.append(
        "To stop marketing email from us, unsubscribe here: "
        + (url or unsubscribe_url(email=email, lead_id=lead_id))
    )
    return "\n".join(lines)


def email_requirements_missing() -> list[str]:
    """Return what must be configured before marketing email is lawful; empty when ready."""
    missing = []
    if not getattr(settings, "BUSINESS_POSTAL_ADDRESS", ""):
        missing.append(
            "the business's postal address is not set (BUSINESS_POSTAL_ADDRESS; CAN-SPAM "
            "requires it in every marketing email)"
        )
    if not settings.DEBUG:
        site_url = getattr(settings, "SITE_URL", "")
        if not site_url:
            missing.append("the site's public address for unsubscribe links is not set (SITE_URL)")
        elif not site_url.startswith("https://"):
            missing.append("SITE_URL must be an https:// address (RFC 8058 one-click unsubscribe)")
    return missing
