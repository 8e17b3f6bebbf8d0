"""Demo data: realistic sources, reps, leads, consent, opt-outs and attempts.

Deterministic (a seeded generator) and idempotent: each lead has a fixed source lead id, and
records that already exist are left alone, so loading twice creates nothing new.
Phone numbers use the 555-01XX range, which is reserved for fiction and reaches no one.
"""

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    RevocationMeans,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)
from crm.roles import MANAGER, REP, roles_sync
from leads.choices import Channel
from leads.models import (
    ContactAttempt,
    Direction,
    Disposition,
    Exclusivity,
    Lead,
    LeadSource,
    LeadStatus,
    RepProfile,
)
from leads.sources import source_create

DEMO_PASSWORD = "leadline-demo"
DEMO_LEAD_PREFIX = "DEMO-"

# (city, state, ZIP, IANA zone, area code)
CITIES = [
    ("Miami", "FL", "33130", "America/New_York", "305"),
    ("Tampa", "FL", "33602", "America/New_York", "813"),
    ("Pensacola", "FL", "32502", "America/Chicago", "850"),
    ("Atlanta", "GA", "30303", "America/New_York", "404"),
    ("Charlotte", "NC", "28202", "America/New_York", "704"),
    ("Columbia", "SC", "29201", "America/New_York", "803"),
    ("Richmond", "VA", "23219", "America/New_York", "804"),
    ("Baltimore", "MD", "21201", "America/New_York", "410"),
    ("Philadelphia", "PA", "19103", "America/New_York", "215"),
    ("Newark", "NJ", "07102", "America/New_York", "973"),
    ("Albany", "NY", "12207", "America/New_York", "518"),
    ("Boston", "MA", "02108", "America/New_York", "617"),
    ("Providence", "RI", "02903", "America/New_York", "401"),
    ("Hartford", "CT", "06103", "America/New_York", "860"),
    ("Columbus", "OH", "43215", "America/New_York", "614"),
    ("Detroit", "MI", "48226", "America/Detroit", "313"),
    ("Indianapolis", "IN", "46204", "America/Indiana/Indianapolis", "317"),
    ("Louisville", "KY", "40202", "America/Kentucky/Louisville", "502"),
    ("Nashville", "TN", "37203", "America/Chicago", "615"),
    ("Birmingham", "AL", "35203", "America/Chicago", "205"),
    ("Jackson", "MS", "39201", "America/Chicago", "601"),
    ("New Orleans", "LA", "70112", "America/Chicago", "504"),
    ("Houston", "TX", "77002", "America/Chicago", "713"),
    ("Dallas", "TX", "75201", "America/Chicago", "214"),
    ("El Paso", "TX", "79901", "America/Denver", "915"),
    ("Oklahoma City", "OK", "73102", "America/Chicago", "405"),
    ("Chicago", "IL", "60602", "America/Chicago", "312"),
    ("Minneapolis", "MN", "55401", "America/Chicago", "612"),
    ("St. Louis", "MO", "63101", "America/Chicago", "314"),
    ("Denver", "CO", "80202", "America/Denver", "303"),
    ("Salt Lake City", "UT", "84111", "America/Denver", "801"),
    ("Albuquerque", "NM", "87102", "America/Denver", "505"),
    ("Phoenix", "AZ", "85004", "America/Phoenix", "602"),
    ("Las Vegas", "NV", "89101", "America/Los_Angeles", "702"),
    ("Los Angeles", "CA", "90012", "America/Los_Angeles", "213"),
    ("San Diego", "CA", "92101", "America/Los_Angeles", "619"),
    ("Sacramento", "CA", "95814", "America/Los_Angeles", "916"),
    ("Portland", "OR", "97204", "America/Los_Angeles", "503"),
    ("Seattle", "WA", "98101", "America/Los_Angeles", "206"),
    ("Boise", "ID", "83702", "America/Boise", "208"),
]

FIRST_NAMES = [
    "James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer", "Carlos",
    "Elizabeth", "Daniel", "Susan", "Jose", "Jessica", "Thomas", "Sarah", "Kevin", "Karen",
    "Brian", "Nancy", "Luis", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Juan", "Ashley",
    "Steven", "Kimberly", "Andrew", "Donna", "Joshua", "Emily", "Kenneth", "Michelle", "Ana",
    "Dorothy", "Tyrone", "Mei", "Priya", "Omar", "Hannah", "Diego", "Grace", "Samuel",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Nguyen",
    "Patel", "Chen", "Kim", "Okafor", "Rivera", "Cooper", "Reed", "Bailey", "Murphy",
]  # fmt: skip
STREETS = ["Oak St", "Maple Ave", "Main St", "Cedar Ln", "Pine Rd", "Lakeview Dr", "Elm St"]

SOURCES = [
    # name, price, exclusivity, return window, products, states
    ("SunPath Media", "38.00", Exclusivity.EXCLUSIVE, 5, ["solar"], []),
    ("HomeQuote Direct", "14.50", Exclusivity.SHARED, 3, ["home_insurance"], []),
    ("SeniorCare Connect", "27.00", Exclusivity.EXCLUSIVE, 7, ["medicare"], []),
    ("AutoShield Partners", "9.75", Exclusivity.SHARED, 2, ["auto_insurance"], []),
]

REPS = [
    ("rep.alex", "Alex", "Morgan", ["FL", "GA", "TX", "AL", "LA", "MS", "NC", "SC"], ["en", "es"]),
    ("rep.blair", "Blair", "Chen", [], ["en"]),
]

# Status -> the dispositions of the attempts that led there (last one decides).
STATUS_WEIGHTS = {
    LeadStatus.NEW: 30,
    LeadStatus.WORKING: 25,
    LeadStatus.CONTACTED: 15,
    LeadStatus.APPOINTMENT: 8,
    LeadStatus.WON: 6,
    LeadStatus.LOST: 8,
    LeadStatus.RETURNED: 3,
    LeadStatus.INVALID: 2,
    LeadStatus.DO_NOT_CONTACT: 3,
}
FINAL_DISPOSITION = {
    LeadStatus.WORKING: [Disposition.NO_ANSWER, Disposition.VOICEMAIL, Disposition.BUSY],
    LeadStatus.CONTACTED: [Disposition.CONTACTED, Disposition.CALLBACK_REQUESTED],
    LeadStatus.APPOINTMENT: [Disposition.APPOINTMENT_SET],
    LeadStatus.WON: [Disposition.SALE],
    LeadStatus.LOST: [Disposition.NOT_INTERESTED],
    LeadStatus.RETURNED: [Disposition.BAD_NUMBER],
    LeadStatus.INVALID: [Disposition.BAD_NUMBER],
    LeadStatus.DO_NOT_CONTACT: [Disposition.DO_NOT_CONTACT],
}
CONTACTED_STATUSES = {
    LeadStatus.CONTACTED,
    LeadStatus.APPOINTMENT,
    LeadStatus.WON,
    LeadStatus.LOST,
    LeadStatus.DO_NOT_CONTACT,
}


@dataclass
class DemoSummary:
    users_created: list[str] = field(default_factory=list)
    source_keys: dict[str, str] = field(default_factory=dict)
    leads_created: int = 0
    consents_created: int = 0
    suppressions_created: int = 0
    attempts_created: int = 0
    touches_created: int = 0


def _user_ensure(username, *, first_name, last_name, role, summary, is_staff=False):
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@example.com",
            "is_staff": is_staff,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
        summary.users_created.append(username)
    user.groups.add(Group.objects.get(name=role))
    return user


def _people_ensure(summary: DemoSummary) -> list:
    _user_ensure(
        "manager", first_name="Morgan", last_name="Reyes", role=MANAGER, summary=summary,
        is_staff=True,
    )  # fmt: skip
    reps = []
    for username, first, last, states, languages in REPS:
        user = _user_ensure(username, first_name=first, last_name=last, role=REP, summary=summary)
        RepProfile.objects.get_or_create(
            user=user,
            defaults={"licensed_states": states, "languages": languages, "capacity": 400},
        )
        reps.append(user)
    return reps


def _sources_ensure(summary: DemoSummary) -> list[LeadSource]:
    sources = []
    for name, price, exclusivity, window, products, states in SOURCES:
        source = LeadSource.objects.filter(name=name).first()
        if source is None:
            source, key = source_create(
                name=name,
                price_per_lead=Decimal(price),
                exclusivity=exclusivity,
                return_window_days=window,
                accepted_products=products,
                accepted_states=states,
                daily_cap=500,
            )
            summary.source_keys[name] = key
        sources.append(source)
    return sources


def _lead_plan(rng: random.Random, index: int, sources, reps, now) -> tuple[Lead, dict]:
    """Return an unsaved lead and what happens to it after it is received."""
    source = sources[index % len(sources)]
    city, state, zip_code, zone, area_code = CITIES[index % len(CITIES)]
    line = 100 + index // len(CITIES) % 100
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    received_at = now - datetime.timedelta(minutes=rng.randint(5, 45 * 24 * 60))
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    lead = Lead(
        source=source,
        source_lead_id=f"{DEMO_LEAD_PREFIX}{index:05d}",
        received_at=received_at,
        first_name=first,
        last_name=last,
        phone=f"+1{area_code}5550{line:03d}",
        email=f"{first}.{last}{index}@example.com".lower(),
        street=f"{rng.randint(100, 9999)} {rng.choice(STREETS)}",
        city=city,
        state=state,
        zip_code=zip_code,
        time_zone=zone,
        product=source.accepted_products[0],
        cost=source.price_per_lead,
        is_exclusive=source.exclusivity == Exclusivity.EXCLUSIVE,
        status=status,
        score=rng.randint(15, 98),
        owner=None if status == LeadStatus.NEW and rng.random() < 0.5 else rng.choice(reps),
        extra={"utm_source": rng.choice(["google", "facebook", "bing", "tiktok"])},
    )
    fate = {
        "has_consent": rng.random() < 0.92,
        "consent_channels": rng.choice(
            [["call", "sms", "email"], ["call", "sms"], ["call"], ["email"]]
        ),
        "attempt_count": 0 if status == LeadStatus.NEW else rng.randint(1, 5),
        "attempt_gaps": [rng.randint(1, 600) for _ in range(5)],
        "opt_out_channel": rng.choice(["sms", "call"]),
    }
    if status in CONTACTED_STATUSES:
        lead.first_contact_at = received_at + datetime.timedelta(minutes=fate["attempt_gaps"][0])
    return lead, fate


def _consent_for(lead: Lead, fate: dict) -> ConsentRecord:
    sellers = [*settings.SELLER_NAMES, lead.source.name]
    return ConsentRecord(
        lead=lead,
        channels=fate["consent_channels"],
        seller_names=sellers,
        disclosure_text=(
            "By clicking Get My Quote, I agree that "
            + " and ".join(sellers)
            + " may call and text me at the number above, including by automated means, "
            "about offers. Consent is not a condition of purchase. Msg & data rates may apply."
        ),
        captured_at=lead.received_at - datetime.timedelta(seconds=40),
        ip_address=f"198.51.100.{lead.pk % 250 + 1}",
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15",
        page_url=f"https://quotes.example.com/{lead.product}?lp=spring",
        trustedform_cert_url=f"https://cert.trustedform.com/{lead.pk:040x}",
        jornaya_leadid=f"{lead.pk:08X}-DEMO-4C3A-9A5E-{lead.pk:012X}",
        capture_method=CaptureMethod.WEB_FORM,
    )


def _attempts_for(lead: Lead, fate: dict, reps) -> list[ContactAttempt]:
    attempts = []
    started = lead.received_at
    count = fate["attempt_count"]
    for number in range(count):
        started += datetime.timedelta(minutes=fate["attempt_gaps"][number])
        is_last = number == count - 1
        disposition = (
            FINAL_DISPOSITION[lead.status][lead.pk % len(FINAL_DISPOSITION[lead.status])]
            if is_last
            else Disposition.NO_ANSWER
        )
        talked = disposition not in (Disposition.NO_ANSWER, Disposition.BUSY)
        ended = started + datetime.timedelta(seconds=(240 if talked else 25) + lead.pk % 90)
        attempts.append(
            ContactAttempt(
                lead=lead,
                channel=Channel.CALL,
                direction=Direction.OUTBOUND,
                rep=lead.owner or reps[0],
                started_at=started,
                ended_at=ended,
                duration_seconds=int((ended - started).total_seconds()),
                disposition=disposition,
                notes="Asked to be called after 5pm." if is_last and talked else "",
            )
        )
    return attempts


def _opt_out_for(lead: Lead, fate: dict) -> Suppression:
    by_text = fate["opt_out_channel"] == "sms"
    return Suppression(
        phone=lead.phone,
        channel_scope=SuppressionScope.ALL,
        origin=SuppressionOrigin.SMS_KEYWORD if by_text else SuppressionOrigin.REP,
        reason='Replied "STOP"' if by_text else "Said on a call: stop calling me",
        received_at=lead.received_at + datetime.timedelta(hours=2),
        lead=lead,
    )


@transaction.atomic
def demo_data_load(*, lead_count: int = 2000, seed: int = 20261122) -> DemoSummary:
    """Create the demo business; records that already exist are kept as they are."""
    roles_sync()
    summary = DemoSummary()
    reps = _people_ensure(summary)
    sources = _sources_ensure(summary)
    rng = random.Random(seed)
    now = timezone.now()
    plans = [_lead_plan(rng, index, sources, reps, now) for index in range(lead_count)]
    existing = set(
        Lead.objects.filter(source_lead_id__startswith=DEMO_LEAD_PREFIX).values_list(
            "source_id", "source_lead_id"
        )
    )
    plans = [plan for plan in plans if (plan[0].source_id, plan[0].source_lead_id) not in existing]
    if not plans:
        return summary
    leads = bulk_create_with_history([lead for lead, _ in plans], Lead, batch_size=500)
    # Some people fill in forms twice: mark later copies as duplicates of the first.
    _duplicates_mark(leads)
    fates = [fate for _, fate in plans]
    consents, suppressions, attempts = [], [], []
    for lead, fate in zip(leads, fates, strict=True):
        if fate["has_consent"]:
            consents.append(_consent_for(lead, fate))
        if lead.status == LeadStatus.DO_NOT_CONTACT:
            suppressions.append(_opt_out_for(lead, fate))
        attempts.extend(_attempts_for(lead, fate, reps))
    for consent in consents:
        if consent.lead.status == LeadStatus.DO_NOT_CONTACT:
            consent.revoked_at = consent.captured_at + datetime.timedelta(hours=2)
            consent.revocation_means = RevocationMeans.SMS_KEYWORD
    bulk_create_with_history(consents, ConsentRecord, batch_size=500)
    bulk_create_with_history(suppressions, Suppression, batch_size=500)
    bulk_create_with_history(attempts, ContactAttempt, batch_size=500)
    summary.touches_created = _welcome_texts_plan(leads, rng, now)
    summary.leads_created = len(leads)
    summary.consents_created = len(consents)
    summary.suppressions_created = len(suppressions)
    summary.attempts_created = len(attempts)
    return summary


def _welcome_texts_plan(leads: list[Lead], rng: random.Random, now) -> int:
    """Plan welcome texts through the gate for some of the reps' leads, due soon.

    The gate decides each as it would for real: some wait for the lead's calling hours,
    texts to leads who opted out are blocked, and the clock sends the rest when due.
    """
    from leads.touches import touch_schedule  # imports the gate, which needs the app ready

    owned = [lead for lead in leads if lead.owner_id]
    chosen = [lead for lead in owned if lead.status == LeadStatus.NEW][:30]
    chosen += [lead for lead in owned if lead.status == LeadStatus.DO_NOT_CONTACT][:5]
    for lead in chosen:
        touch_schedule(
            lead=lead,
            channel=Channel.SMS,
            body=f"Hi {lead.first_name}, this is {lead.owner.first_name} about your "
            f"{lead.product} quote. When is a good time to talk?",
            due_at=now + datetime.timedelta(minutes=rng.randint(2, 90)),
            created_by=lead.owner,
        )
    return len(chosen)


def _duplicates_mark(leads: list[Lead]) -> None:
    candidates = [lead for lead in leads if lead.status == LeadStatus.RETURNED]
    originals = [lead for lead in leads if lead.status == LeadStatus.WON]
    for duplicate, original in zip(candidates[::2], originals, strict=False):
        duplicate.duplicate_of = original
        duplicate.phone = original.phone
        duplicate.email = original.email
    Lead.objects.bulk_update(
        [lead for lead in candidates[::2] if lead.duplicate_of_id],
        ["duplicate_of", "phone", "email"],
    )
