"""Lead sources: creating them and managing their API keys."""

import time
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.text import slugify

from leads.models import LeadSource
from leads.models.source import API_KEY_PREFIX, hash_api_key


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


# Every API request looks up its source by key. Each process remembers the answer this long;
# saving a source forgets it here at once, and in other processes within this time.
SOURCE_CACHE_SECONDS = 1.0
_sources_by_key_hash: dict[str, tuple[float, LeadSource | None]] = {}


def source_for_api_key(key: str) -> LeadSource | None:
    """Return the source owning this API key, or None (remembered for a second)."""
    if not key or not key.startswith(API_KEY_PREFIX):
        return None
    key_hash = hash_api_key(key)
    now = time.monotonic()
    remembered = _sources_by_key_hash.get(key_hash)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    source = LeadSource.objects.filter(api_key_hash=key_hash).first()
    if len(_sources_by_key_hash) > 10_000:  # unknown keys must not grow this without bound
        _sources_by_key_hash.clear()
    _sources_by_key_hash[key_hash] = (now + SOURCE_CACHE_SECONDS, source)
    return source


@receiver([post_save, post_delete], sender=LeadSource)
def source_cache_drop(sender, instance: LeadSource, **kwargs) -> None:
    """Forget this process's lookups of the source's current and replaced keys."""
    for key_hash in (instance.api_key_hash, getattr(instance, "replaced_api_key_hash", "")):
        _sources_by_key_hash.pop(key_hash, None)


MANUAL_SOURCE_SLUG = "manual"
MANUAL_SOURCE_NAME = "Entered by hand"


def manual_source() -> LeadSource:
    """Return the business's own source for leads its people enter by hand (made once)."""
    source = LeadSource.objects.filter(slug=MANUAL_SOURCE_SLUG).first()
    if source is not None:
        return source
    try:
        with transaction.atomic():
            return source_create(
                name=MANUAL_SOURCE_NAME,
                slug=MANUAL_SOURCE_SLUG,
                return_window_days=0,
                allowed_return_reasons=[],
            )[0]
    except IntegrityError:  # created meanwhile by another request
        return LeadSource.objects.get(slug=MANUAL_SOURCE_SLUG)
