import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from crm.history import history_user
from leads.validators import validate_state_list, validate_string_list

API_KEY_PREFIX = "lls_"


def hash_api_key(key: str) -> str:
    """Return the stored form of an API key: keys are random, so SHA-256 is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Exclusivity(models.TextChoices):
    EXCLUSIVE = "exclusive", "Exclusive (sold once)"
    SHARED = "shared", "Shared (sold to several buyers)"


class Pricing(models.TextChoices):
    FIXED = "fixed", "Fixed price per lead"
    VARIABLE = "variable", "Variable: each lead carries its price"


class ReturnReason(models.TextChoices):
    BAD_NUMBER = "bad_number", "Bad or disconnected number"
    DUPLICATE = "duplicate", "Duplicate"
    FRAUD = "fraud", "Fraud or fake identity"
    OUT_OF_AREA = "out_of_area", "Outside the accepted area"
    WRONG_PRODUCT = "wrong_product", "Not interested in this product"
    UNDERAGE = "underage", "Under age"
    NO_CONSENT = "no_consent", "Missing or invalid consent"


def validate_return_reasons(value) -> None:
    validate_string_list(value)
    unknown = sorted(set(value) - set(ReturnReason.values))
    if unknown:
        raise ValidationError(
            "Unknown return reasons: %(reasons)s.", params={"reasons": ", ".join(unknown)}
        )


def default_return_reasons() -> list[str]:
    return [ReturnReason.BAD_NUMBER, ReturnReason.DUPLICATE, ReturnReason.FRAUD]


class LeadSourceQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def by_api_key(self, key: str):
        """Return the source owning this key, or None."""
        if not key or not key.startswith(API_KEY_PREFIX):
            return None
        return self.filter(api_key_hash=hash_api_key(key)).first()


class LeadSource(models.Model):
    """A vendor that sells leads (or calls) to this business."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    is_active = models.BooleanField(
        "active", default=True, help_text="A paused source's leads are refused."
    )
    api_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    api_key_hint = models.CharField(
        max_length=16, editable=False, help_text="The key's first characters, to recognise it."
    )
    api_key_rotated_at = models.DateTimeField(editable=False, default=timezone.now)
    price_per_lead = models.DecimalField(
        max_digits=10, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    pricing = models.CharField(max_length=10, choices=Pricing.choices, default=Pricing.FIXED)
    price_floor = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Variable pricing: the lowest price a lead may carry.",
    )
    price_ceiling = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Variable pricing: the highest price a lead may carry.",
    )
    cadence = models.ForeignKey(
        "leads.Cadence",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sources",
        help_text="The follow-up its leads get, unless their product chooses another.",
    )
    exclusivity = models.CharField(
        max_length=12, choices=Exclusivity.choices, default=Exclusivity.EXCLUSIVE
    )
    sla_minutes = models.PositiveSmallIntegerField(
        "speed-to-lead SLA (minutes)",
        default=5,
        help_text="A rep must call each lead within this long of its calling hours opening.",
    )
    return_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days after receipt during which a lead may be returned."
    )
    allowed_return_reasons = models.JSONField(
        default=default_return_reasons,
        blank=True,
        validators=[validate_return_reasons],
        help_text=f"Allowed: {', '.join(ReturnReason.values)}.",
    )
    return_cap_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most returns per calendar month, as a percent of the month's leads.",
    )
    auto_return_duplicates = models.BooleanField(
        default=False, help_text="Return duplicates automatically."
    )
    auto_return_invalid = models.BooleanField(
        default=False, help_text="Return leads whose number or address proves invalid."
    )
    shares_revenue = models.BooleanField(
        "source may see revenue", default=False, help_text="Send sale amounts in feedback."
    )
    accepted_states = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_state_list],
        help_text='Two-letter codes, e.g. ["FL", "TX"]. Empty accepts every state.',
    )
    accepted_products = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_string_list],
        help_text='Product names, e.g. ["solar"]. Empty accepts every product.',
    )
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most leads accepted per day (UTC). Empty means no cap."
    )
    require_consent = models.BooleanField(
        default=False, help_text="Refuse leads that arrive without consent evidence."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        default=6000, help_text="Most API requests per minute before answering 429."
    )
    csv_column_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="The last CSV import's column for each lead field, reused on the next one.",
    )
    feedback_webhook_url = models.URLField(max_length=500, blank=True)
    webhook_signing_secret = models.CharField(max_length=64, default=new_webhook_secret)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["api_key_hash"], get_user=history_user)
    objects = LeadSourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_per_lead__gte=0), name="leadsource_price_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(price_floor__isnull=True)
                | models.Q(price_ceiling__isnull=True)
                | models.Q(price_floor__lte=models.F("price_ceiling")),
                name="leadsource_price_floor_under_ceiling",
            ),
        ]

    def __str__(self):
        return self.name

    def set_new_api_key(self) -> str:
        """Give the source a new key and return it; only its hash is kept."""
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        # Remembered so the cached lookup of the old key can be dropped when this is saved.
        self.replaced_api_key_hash = self.api_key_hash
        self.api_key_hash = hash_api_key(key)
        self.api_key_hint = key[: len(API_KEY_PREFIX) + 6]
        self.api_key_rotated_at = timezone.now()
        return key

    def accepts_state(self, state: str) -> bool:
        return not self.accepted_states or state in self.accepted_states

    def accepts_product(self, product: str) -> bool:
        return not self.accepted_products or product in self.accepted_products
