"""The API's documented shapes. Validation itself is leads.intake.payload, which reports
every problem at once; these serializers describe the contract for the OpenAPI schema."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from leads.choices import Channel


class ConsentIn(serializers.Serializer):
    captured_at = serializers.DateTimeField(help_text="When the lead agreed, with UTC offset.")
    ip = serializers.IPAddressField(required=False)
    user_agent = serializers.CharField(required=False)
    page_url = serializers.URLField(required=False)
    disclosure_text = serializers.CharField(help_text="The consent words exactly as shown.")
    sellers = serializers.ListField(
        child=serializers.CharField(), help_text="Seller names the disclosure named."
    )
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))
    trustedform_cert_url = serializers.URLField(required=False)
    jornaya_leadid = serializers.CharField(required=False, help_text="36-character token.")


class LeadIn(serializers.Serializer):
    source_lead_id = serializers.CharField(max_length=100, help_text="Your id; unique per source.")
    first_name = serializers.CharField(required=False, max_length=100)
    last_name = serializers.CharField(required=False, max_length=100)
    phone = serializers.CharField(help_text="Any US format; stored as E.164.")
    email = serializers.EmailField(required=False)
    street = serializers.CharField(required=False, max_length=200)
    city = serializers.CharField(required=False, max_length=100)
    state = serializers.CharField(required=False, help_text="Two-letter code or name.")
    zip = serializers.CharField(required=False, help_text="5-digit ZIP or ZIP+4.")
    product = serializers.CharField(required=False, max_length=64)
    campaign = serializers.CharField(
        required=False, max_length=100, help_text="Your sub-id or campaign, for your reports."
    )
    price = serializers.DecimalField(
        required=False,
        max_digits=10,
        decimal_places=2,
        help_text="Variable-priced sources only (required there): what this lead costs, "
        "within the floor and ceiling agreed. A fixed-price source sends none.",
    )
    language = serializers.CharField(
        required=False, max_length=20, help_text="ISO 639-1 code, e.g. es (es-MX is read as es)."
    )
    exclusive = serializers.BooleanField(required=False)
    extra = serializers.DictField(required=False, help_text="Anything else, kept as given.")
    consent = ConsentIn(required=False)


class BatchIn(serializers.Serializer):
    # Items are any JSON: each is judged on its own (as LeadIn) and a bad one is rejected in
    # its place in the results, while the others are stored.
    leads = serializers.ListField(
        child=serializers.JSONField(),
        max_length=1000,
        help_text="At most 1,000 leads, each an object as in 'Deliver one lead'. A lead that "
        "is not valid is rejected in its place in the results; the others are stored.",
    )


class LeadOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
    warnings = serializers.ListField(child=serializers.CharField())


class Rejected(serializers.Serializer):
    status = serializers.ChoiceField(choices=["rejected"])
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="invalid, out_of_area, product_not_accepted, over_daily_cap, consent_required, "
        "conflict",
    )


class BatchItemOut(serializers.Serializer):
    http_status = serializers.IntegerField(help_text="201, 200 (replay), 409 or 422.")
    id = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    errors = serializers.DictField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class BatchOut(serializers.Serializer):
    results = BatchItemOut(many=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    replays = serializers.IntegerField(help_text="Leads delivered before; nothing new stored.")
    rejected = serializers.IntegerField()


class Problem(serializers.Serializer):
    detail = serializers.CharField()


LEAD_EXAMPLE = {
    "source_lead_id": "SP-100245",
    "first_name": "Dana",
    "last_name": "Whitfield",
    "phone": "(305) 555-0142",
    "email": "dana.whitfield@example.com",
    "street": "6496 Lakeview Dr",
    "city": "Miami",
    "state": "FL",
    "zip": "33130",
    "product": "solar",
    "extra": {"utm_source": "google", "roof_age_years": 7},
    "consent": {
        "captured_at": "2026-11-22T14:03:00Z",
        "ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
        "page_url": "https://quotes.example.com/solar",
        "disclosure_text": "By clicking Get My Quote I agree that Brightside Home Services may "
        "call and text me at the number above, including by automated means.",
        "sellers": ["Brightside Home Services"],
        "channels": ["call", "sms", "email"],
        "trustedform_cert_url": "https://cert.trustedform.com/2a7c1b5e9f0d4c3a8b6e1f2d3c4b5a69",
        "jornaya_leadid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    },
}
EXAMPLES = [
    OpenApiExample("A solar lead with consent", value=LEAD_EXAMPLE, request_only=True),
    OpenApiExample(
        "Accepted",
        value={"id": 81234, "status": "accepted", "warnings": []},
        response_only=True,
        status_codes=["201"],
    ),
    OpenApiExample(
        "Duplicate of an earlier lead",
        value={"id": 81235, "status": "duplicate", "warnings": ["disposable_email"]},
        response_only=True,
        status_codes=["201"],
    ),
    OpenApiExample(
        "Rejected",
        value={
            "status": "rejected",
            "errors": {
                "phone": ["'555-0142' is not a valid US phone number."],
                "state": ["out_of_area: this source may not send leads from TX."],
            },
            "reasons": ["invalid"],
        },
        response_only=True,
        status_codes=["422"],
    ),
]
