"""The admin's form for a lead entered by hand: checked and stored by intake, like the API's."""

import uuid

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminSplitDateTime
from django.contrib.auth import get_user_model
from django.utils import timezone

from compliance.models import CaptureMethod
from leads.choices import Channel, USState
from leads.intake.service import REJECTED, leads_check
from leads.models import Lead
from leads.sources import manual_source

# Where a person may have given consent that a manager then types in.
HAND_CAPTURE_METHODS = [
    (CaptureMethod.PHONE_RECORDING, CaptureMethod.PHONE_RECORDING.label),
    (CaptureMethod.PAPER, CaptureMethod.PAPER.label),
    (CaptureMethod.WEB_FORM, CaptureMethod.WEB_FORM.label),
]
# Intake's names for the fields whose form names differ.
PAYLOAD_NAMES = {"zip_code": "zip"}


class LeadAddForm(forms.ModelForm):
    """Who the person is and what they agreed to; intake works out everything else."""

    phone = forms.CharField(max_length=40, help_text="Any usual US form, e.g. (305) 555-0142.")
    email = forms.CharField(max_length=254, required=False)
    state = forms.ChoiceField(choices=[("", "---------"), *USState.choices], required=False)
    consent_channels = forms.MultipleChoiceField(
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Consent to",
        help_text="Leave empty when the person gave no consent to be contacted.",
    )
    consent_capture_method = forms.ChoiceField(
        choices=HAND_CAPTURE_METHODS, initial=CaptureMethod.PHONE_RECORDING, label="Consent given"
    )
    consent_captured_at = forms.SplitDateTimeField(
        required=False,
        widget=AdminSplitDateTime,
        label="Consent given at",
        help_text=f"In {settings.TIME_ZONE}, the admin's zone. Empty means now.",
    )
    consent_disclosure_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="What the person agreed to",
        help_text="The words read or shown to them, naming this business.",
    )

    class Meta:
        model = Lead
        fields = ("first_name", "last_name", "phone", "email")
        fields += ("street", "city", "state", "zip_code", "product")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        self.checked = leads_check(
            source=manual_source(),
            payloads=[self._payload(cleaned)],
            capture_method=cleaned["consent_capture_method"],
        )
        result = self.checked.results[0]
        if result is not None and result.status == REJECTED:
            for name, messages in result.errors.items():
                field = {"zip": "zip_code"}.get(name.removeprefix("consent."), name)
                if name.startswith("consent."):
                    field = f"consent_{field}"
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned

    def _payload(self, cleaned: dict) -> dict:
        payload = {PAYLOAD_NAMES.get(name, name): cleaned[name] for name in self.Meta.fields}
        payload["source_lead_id"] = f"manual-{uuid.uuid4().hex[:16]}"
        if cleaned["consent_channels"]:
            payload["consent"] = {
                "channels": cleaned["consent_channels"],
                "captured_at": (cleaned["consent_captured_at"] or timezone.now()).isoformat(),
                "disclosure_text": cleaned["consent_disclosure_text"],
                # Given to this business, whose people are typing it in.
                "sellers": [settings.BUSINESS_NAME] if settings.BUSINESS_NAME else [],
            }
        return payload


class RepChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class LeadReassignForm(forms.Form):
    """Where a manager sends leads, and why."""

    rep = RepChoiceField(
        queryset=get_user_model().objects.filter(rep_profile__isnull=False).order_by("username"),
        required=False,
        empty_label="The unassigned pool",
        label="Give to",
    )
    reason = forms.CharField(max_length=300, help_text="Kept in each lead's history.")
