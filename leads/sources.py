"""Lead sources: creating them and managing their API keys."""

from decimal import Decimal

from django.db import transaction
from django.utils.text import slugify

from leads.models import LeadSource


@transaction.atomic
def source_create(
    *, name: str, slug: str = "", price_per_lead: Decimal = Decimal("0"), **fields
) -> tuple[LeadSource, str]:
    """Create a source and return it with its API key, which is shown this once."""
    source = LeadSource(
        name=name, slug=slug or slugify(name), price_per_lead=price_per_lead, **fields
    )
    key = source.set_new_api_key()
    source.full_clean()
    source.save()
    return source, key


@transaction.atomic
def source_key_rotate(*, source: LeadSource) -> str:
    """Replace the source's API key; the old one stops working at once."""
    key = source.set_new_api_key()
    source.save(update_fields=["api_key_hash", "api_key_hint", "api_key_rotated_at", "updated_at"])
    return key
