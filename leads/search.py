"""Lead search that stays on indexes at millions of rows.

A term that parses as a phone number matches phones exactly (E.164), one with an @ matches
emails exactly, anything else matches the source's lead id or a first, last or full name,
ignoring case. Substring search would scan the whole table.
"""

import phonenumbers
from django.conf import settings
from django.db.models import Q


def phone_e164(term: str) -> str | None:
    """Return the term as an E.164 phone number, or None when it is not one."""
    digits = sum(ch.isdigit() for ch in term)
    if digits < 7 or any(ch.isalpha() for ch in term):
        return None
    try:
        number = phonenumbers.parse(term, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def lead_search_filter(term: str, *, prefix: str = "") -> Q:
    """Return a filter matching leads for a search box term; prefix reaches leads via a relation."""
    term = " ".join(term.split())
    if not term:
        return Q()
    if phone := phone_e164(term):
        return Q(**{f"{prefix}phone": phone})
    if "@" in term:
        return Q(**{f"{prefix}email": term.lower()})
    query = (
        Q(**{f"{prefix}source_lead_id": term})
        | Q(**{f"{prefix}last_name__iexact": term})
        | Q(**{f"{prefix}first_name__iexact": term})
    )
    first, _, last = term.partition(" ")
    if last:
        query |= Q(**{f"{prefix}first_name__iexact": first, f"{prefix}last_name__iexact": last})
    return query


def contact_search_filter(term: str) -> Q:
    """Return a filter for records keyed by phone or email (suppressions)."""
    term = term.strip()
    if phone := phone_e164(term):
        return Q(phone=phone)
    return Q(email=term.lower())
