import hashlib

import pytest
from django.db import IntegrityError, transaction

from compliance.models import Suppression, SuppressionDeletionRefused
from tests.factories import ConsentRecordFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


def test_suppressions_are_never_deleted():
    entry = SuppressionFactory()

    with pytest.raises(SuppressionDeletionRefused):
        entry.delete()
    with pytest.raises(SuppressionDeletionRefused):
        Suppression.objects.all().delete()

    assert Suppression.objects.filter(pk=entry.pk).exists()


def test_suppression_needs_a_phone_or_an_email():
    with pytest.raises(IntegrityError), transaction.atomic():
        SuppressionFactory(phone="", email="")


def test_suppression_email_is_stored_lowercase():
    entry = SuppressionFactory(phone="", email="Pat@Example.com")

    entry.refresh_from_db()
    assert entry.email == "pat@example.com"


def test_consent_keeps_a_fingerprint_of_the_disclosure_shown():
    consent = ConsentRecordFactory(disclosure_text="I agree to calls from Brightside.")

    expected = hashlib.sha256(b"I agree to calls from Brightside.").hexdigest()
    assert consent.disclosure_sha256 == expected


def test_a_revoked_consent_records_how():
    consent = ConsentRecordFactory()
    consent.revoked_at = consent.captured_at

    with pytest.raises(IntegrityError), transaction.atomic():
        consent.save()
