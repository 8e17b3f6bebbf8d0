import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from compliance.models import ConsentRecord, Suppression, SuppressionOrigin
from crm.roles import MANAGER, REP
from leads.models import ContactAttempt, Lead, LeadSource, RepProfile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class RepFactory(UserFactory):
    class Meta:
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"rep{n}")
    rep_profile = factory.RelatedFactory("tests.factories.RepProfileFactory", "user")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create:
            user.groups.add(Group.objects.get(name=REP))


class ManagerFactory(UserFactory):
    class Meta:
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"manager{n}")
    is_staff = True

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create:
            user.groups.add(Group.objects.get(name=MANAGER))


class RepProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RepProfile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    capacity = 50


class LeadSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadSource

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor-{n}")
    price_per_lead = Decimal("25.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        source = model_class(*args, **kwargs)
        # Keep the plain key on the instance so tests can authenticate as this source.
        source.api_key = source.set_new_api_key()
        source.save()
        return source


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    source = factory.SubFactory(LeadSourceFactory)
    source_lead_id = factory.Sequence(lambda n: f"L-{n:06d}")
    received_at = factory.LazyFunction(timezone.now)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+1305555{n % 10000:04d}")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    city = "Miami"
    state = "FL"
    zip_code = "33130"
    time_zone = "America/New_York"
    product = "solar"
    cost = Decimal("25.00")


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    lead = factory.SubFactory(LeadFactory)
    channels = factory.LazyFunction(lambda: ["call", "sms", "email"])
    seller_names = factory.LazyFunction(lambda: ["Brightside Home Services"])
    disclosure_text = "I agree that Brightside Home Services may call and text me."
    captured_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(minutes=1))
    ip_address = "198.51.100.7"
    page_url = "https://quotes.example.com/solar"


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    phone = factory.Sequence(lambda n: f"+1212555{n % 10000:04d}")
    origin = SuppressionOrigin.SMS_KEYWORD
    reason = 'Replied "STOP"'


class ContactAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactAttempt

    lead = factory.SubFactory(LeadFactory)
    channel = "call"
    started_at = factory.LazyFunction(timezone.now)
