import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leads.models import ContactAttempt, Lead, LeadSource
from leads.sources import source_create, source_key_rotate
from tests.factories import ContactAttemptFactory, LeadFactory, LeadSourceFactory

pytestmark = pytest.mark.django_db


def test_source_lead_id_is_unique_per_source(source, other_source):
    LeadFactory(source=source, source_lead_id="ABC-1")
    LeadFactory(source=other_source, source_lead_id="ABC-1")  # another vendor may reuse it

    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(source=source, source_lead_id="ABC-1")

    assert Lead.objects.filter(source_lead_id="ABC-1").count() == 2


@pytest.mark.parametrize(
    ("entered", "stored"),
    [
        ("(305) 555-0123", "+13055550123"),
        ("305.555.0123", "+13055550123"),
        ("+1 305 555 0123", "+13055550123"),
        ("13055550123", "+13055550123"),
    ],
)
def test_phone_is_stored_in_e164(source, entered, stored):
    lead = LeadFactory(source=source, phone=entered)

    lead.refresh_from_db()
    assert str(lead.phone) == stored


@pytest.mark.parametrize("bad_phone", ["555-0123", "not a phone", "+1 000 000 0000", "12"])
def test_invalid_phone_is_rejected_with_the_field_named(source, bad_phone):
    lead = LeadFactory.build(source=source, phone=bad_phone)

    with pytest.raises(ValidationError) as error:
        lead.full_clean()

    assert "phone" in error.value.message_dict


def test_database_refuses_a_phone_that_is_not_e164(source):
    lead = LeadFactory(source=source)

    # Raw SQL: the model field would normalise the number before it reached the database.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET phone = %s WHERE id = %s", ["305-555-0123", lead.pk])


def test_email_is_stored_lowercase(source):
    lead = LeadFactory(source=source, email="  Pat.Lee@Example.COM ")

    lead.refresh_from_db()
    assert lead.email == "pat.lee@example.com"


def test_time_zone_must_be_an_iana_zone(source):
    lead = LeadFactory.build(source=source, time_zone="EST5EDT-ish")

    with pytest.raises(ValidationError) as error:
        lead.full_clean()

    assert "time_zone" in error.value.message_dict


def test_score_cannot_exceed_100(source):
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(source=source, score=101)


def test_duplicate_links_to_the_first_lead(source, other_source):
    first = LeadFactory(source=source, phone="+13055550100")
    second = LeadFactory(source=other_source, phone="+13055550100", duplicate_of=first)

    assert list(first.duplicates.all()) == [second]


def test_open_leads_exclude_finished_ones(source, rep):
    open_lead = LeadFactory(source=source, owner=rep, status="working")
    LeadFactory(source=source, owner=rep, status="won")
    LeadFactory(source=source, owner=rep, status="do_not_contact")

    assert list(Lead.objects.owned_by(rep).open()) == [open_lead]


def test_attempt_duration_comes_from_start_and_end(source):
    started = timezone.now()
    attempt = ContactAttemptFactory(
        lead=LeadFactory(source=source),
        started_at=started,
        ended_at=started + datetime.timedelta(minutes=3, seconds=5),
    )

    assert attempt.duration_seconds == 185


def test_attempt_cannot_end_before_it_starts(source):
    started = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactAttemptFactory(
            lead=LeadFactory(source=source),
            started_at=started,
            ended_at=started - datetime.timedelta(seconds=1),
        )


def test_a_lead_with_attempts_cannot_be_deleted(source):
    attempt = ContactAttemptFactory(lead=LeadFactory(source=source))

    with pytest.raises(Exception, match="protected"):
        attempt.lead.delete()

    assert ContactAttempt.objects.filter(pk=attempt.pk).exists()


def test_source_keeps_only_a_hash_of_its_key():
    source, key = source_create(name="Acme Leads")

    assert key.startswith("lls_")
    assert key not in (source.api_key_hash, source.api_key_hint)
    assert LeadSource.objects.by_api_key(key) == source
    assert LeadSource.objects.by_api_key(key + "x") is None
    assert source.slug == "acme-leads"


def test_rotating_a_key_stops_the_old_one():
    source, old_key = source_create(name="Acme Leads")

    new_key = source_key_rotate(source=source)

    assert LeadSource.objects.by_api_key(old_key) is None
    assert LeadSource.objects.by_api_key(new_key) == source


def test_source_lists_are_validated():
    source = LeadSourceFactory.build(
        accepted_states=["FL", "ZZ"], allowed_return_reasons=["duplicate", "bored"]
    )

    with pytest.raises(ValidationError) as error:
        source.full_clean()

    assert "ZZ" in str(error.value.message_dict["accepted_states"])
    assert "bored" in str(error.value.message_dict["allowed_return_reasons"])
