"""Phone numbers as intake reads them."""

import phonenumbers
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from leads.normalize import NUMBER_TYPES, US_REGIONS, InvalidField, normalize_phone

US_NUMBER_FORMS = ["{}{}{}", "+1{}{}{}", "1{}{}{}", "({}) {}-{}", "+1 {}-{}-{}", "1.{}.{}.{}"]


@hypothesis_settings(max_examples=300, deadline=None)
@example(area_code=416, subscriber=5550142, form="+1 {}-{}-{}")  # Toronto: not a US number
@example(area_code=787, subscriber=5550142, form="({}) {}-{}")  # Puerto Rico
@example(area_code=800, subscriber=5550142, form="1{}{}{}")  # toll free
@example(area_code=264, subscriber=4970142, form="{}{}{}")  # Anguilla
@given(
    area_code=st.integers(200, 999),
    subscriber=st.integers(0, 9_999_999),
    form=st.sampled_from(US_NUMBER_FORMS),
)
def test_usual_us_forms_read_as_phonenumbers_reads_them(area_code, subscriber, form):
    """normalize_phone reads the usual US forms itself; it must agree with phonenumbers."""
    digits = f"{area_code}{subscriber:07d}"
    text = form.format(digits[:3], digits[3:6], digits[6:])
    expected = phonenumbers.parse(text, "US")
    valid = phonenumbers.is_valid_number(expected)
    region = phonenumbers.region_code_for_number(expected)

    try:
        result = normalize_phone(text)
    except InvalidField:
        assert not valid or region not in US_REGIONS
    else:
        assert valid and region in US_REGIONS
        assert phonenumbers.PhoneNumber.__eq__(result.number, expected)
        assert result.e164 == phonenumbers.format_number(expected, PhoneNumberFormat.E164)
        assert result.number_type == NUMBER_TYPES.get(phonenumbers.number_type(expected), "unknown")
