"""Demo data: realistic sources, reps, leads, consent, opt-outs and attempts.

Deterministic (a seeded generator) and idempotent: each lead has a fixed source lead id, and
records that already exist are left alone, so loading twice creates nothing new.
The history keeps the product's own rules, as if each call had been asked of the compliance
gate: every call was made in the past, at an hour the lead's every candidate zone and state
allows, under the attempt caps; routing gave each lead to a rep licensed for its state and
under capacity, and the leads no rep could take wait in the pool.
Phone numbers use the 555-01XX range, which is reserved for fiction and reaches no one.
"""

import datetime
import heapq
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from compliance.hours import hours_check
from compliance.models import (
    CaptureMethod,
    ConsentRecord,
    RevocationMeans,
    Suppression,
    SuppressionOrigin,
    SuppressionScope,
)
from compliance.rules import AttemptCap, attempt_caps_for
from crm.roles import MANAGER, REP, roles_sync
from leads.choices import Channel
from leads.feedback.outbox import conversion_feedback_record, feedback_event_record
from leads.feedback.rollups import rollups_rebuild
from leads.models import (
    ContactAttempt,
    Conversion,
    ConversionKind,
    ConversionOrigin,
    Direction,
    Disposition,
    Exclusivity,
    FeedbackEventType,
    Lead,
    LeadReturn,
    LeadSource,
    LeadStatus,
    RepProfile,
    ReturnOrigin,
    ReturnReason,
    ReturnStatus,
)
from leads.models.lead import OPEN_STATUSES
from leads.scoring import NO_STATS, factor_weights, lead_score
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

# Each city has the 100 fictional numbers 555-0100 to 555-0199, one per lead: more leads would
# repeat a number, and with it another lead's calls and attempt caps.
MAX_DEMO_LEADS = len(CITIES) * 100

SOURCES = [
    # name, price, exclusivity, return window, products, states
    ("SunPath Media", "38.00", Exclusivity.EXCLUSIVE, 5, ["solar"], []),
    ("HomeQuote Direct", "14.50", Exclusivity.SHARED, 3, ["home_insurance"], []),
    ("SeniorCare Connect", "27.00", Exclusivity.EXCLUSIVE, 7, ["medicare"], []),
    ("AutoShield Partners", "9.75", Exclusivity.SHARED, 2, ["auto_insurance"], []),
]

REP_CAPACITY = 400
REPS = [
    # username, first name, last name, licensed states (none: every state), languages
    (
        "rep.alex", "Alex", "Morgan",
        ["FL", "GA", "TX", "AL", "LA", "MS", "NC", "SC", "AZ", "NM", "NV", "CA", "CO"],
        ["en", "es"],
    ),
    ("rep.blair", "Blair", "Chen", [], ["en"]),
]  # fmt: skip

# A CRM in use: most leads of the last 45 days are closed, the open ones are a few hundred
# per rep, and the newest wait for their first call.
LEAD_MAX_AGE = datetime.timedelta(days=45)
NEW_LEAD_MAX_AGE = datetime.timedelta(days=2)
STATUS_WEIGHTS = {
    LeadStatus.NEW: 14,
    LeadStatus.WORKING: 14,
    LeadStatus.CONTACTED: 8,
    LeadStatus.APPOINTMENT: 4,
    LeadStatus.WON: 7,
    LeadStatus.LOST: 40,
    LeadStatus.RETURNED: 5,
    LeadStatus.INVALID: 3,
    LeadStatus.DO_NOT_CONTACT: 5,
}
# Of the new leads, the share not yet claimed by any rep.
NEW_IN_POOL = 0.6
# Status -> the dispositions of the attempts that led there (last one decides).
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
NOTES = {
    Disposition.CALLBACK_REQUESTED: "Asked to be called after 5pm.",
    Disposition.APPOINTMENT_SET: "Home visit booked; sent the confirmation.",
    Disposition.SALE: "Signed on the call.",
    Disposition.NOT_INTERESTED: "Already has a provider.",
    Disposition.DO_NOT_CONTACT: "Asked us to stop calling.",
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
    enrollments_created: int = 0
    conversions_created: int = 0
    returns_created: int = 0


@dataclass
class LeadPlan:
    """An unsaved lead and what happens to it after it is received."""

    index: int
    lead: Lead
    has_consent: bool
    consent_channels: list[str]
    attempt_count: int
    attempt_gaps: list[datetime.timedelta]
    opt_out_by_text: bool
    waits_in_pool: bool
    duplicate_of: "LeadPlan | None" = None
    caller: object = None  # the rep (a user) who made the calls: the owner, if any
    calls: list[tuple[datetime.datetime, datetime.datetime]] = field(default_factory=list)

    def disposition(self, number: int) -> str:
        if number < self.attempt_count - 1:
            return Disposition.NO_ANSWER
        outcomes = FINAL_DISPOSITION[self.lead.status]
        return outcomes[self.index % len(outcomes)]

    def call_length(self, number: int) -> datetime.timedelta:
        talked = self.disposition(number) not in (Disposition.NO_ANSWER, Disposition.BUSY)
        return datetime.timedelta(seconds=(240 if talked else 25) + self.index % 90)


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


def _people_ensure(summary: DemoSummary) -> list[RepProfile]:
    """Create the manager and the reps; return the reps' profiles with their open lead counts."""
    _user_ensure(
        "manager", first_name="Morgan", last_name="Reyes", role=MANAGER, summary=summary,
        is_staff=True,
    )  # fmt: skip
    users = []
    for number, (username, first, last, states, languages) in enumerate(REPS):
        user = _user_ensure(username, first_name=first, last_name=last, role=REP, summary=summary)
        RepProfile.objects.get_or_create(
            user=user,
            defaults={
                "licensed_states": states,
                "languages": languages,
                "capacity": REP_CAPACITY,
                # Where the lead-to-call bridge rings them (the console backend only logs it).
                "phone": f"+1305555{190 + number:04d}",
            },
        )
        users.append(user)
    return list(
        RepProfile.objects.with_open_lead_count()
        .filter(user__in=users)
        .select_related("user")
        .order_by("user__username")
    )


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


def _lead_plan(rng: random.Random, index: int, sources, now) -> LeadPlan:
    source = sources[index % len(sources)]
    city, state, zip_code, zone, area_code = CITIES[index % len(CITIES)]
    line = 100 + index // len(CITIES)
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    max_age = NEW_LEAD_MAX_AGE if status == LeadStatus.NEW else LEAD_MAX_AGE
    received_at = now - datetime.timedelta(
        minutes=rng.randint(5, int(max_age.total_seconds() // 60))
    )
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
        # Loaded with its history, as the fast lane would have left it.
        processed_at=received_at,
        extra={"utm_source": rng.choice(["google", "facebook", "bing", "tiktok"])},
    )
    return LeadPlan(
        index=index,
        lead=lead,
        has_consent=rng.random() < 0.92,
        consent_channels=rng.choice(
            [["call", "sms", "email"], ["call", "sms"], ["call"], ["email"]]
        ),
        attempt_count=0 if status == LeadStatus.NEW else rng.randint(1, 5),
        attempt_gaps=[datetime.timedelta(minutes=rng.randint(1, 600)) for _ in range(5)],
        opt_out_by_text=rng.choice([True, False]),
        waits_in_pool=rng.random() < NEW_IN_POOL,
    )


def _duplicates_pair(plans: list[LeadPlan]) -> None:
    """Some people fill in forms twice: a later returned lead repeats a won lead's phone and
    email, and is stored as a duplicate of it."""
    originals = sorted(
        (plan for plan in plans if plan.lead.status == LeadStatus.WON),
        key=lambda plan: plan.lead.received_at,
    )
    candidates = [plan for plan in plans if plan.lead.status == LeadStatus.RETURNED][::2]
    for duplicate in candidates:
        original = next(
            (o for o in originals if o.lead.received_at < duplicate.lead.received_at), None
        )
        if original is None:
            continue
        originals.remove(original)
        duplicate.duplicate_of = original
        duplicate.lead.phone = original.lead.phone
        duplicate.lead.email = original.lead.email


def _calls_schedule(plans: list[LeadPlan], now: datetime.datetime) -> None:
    """Give each planned call the first instant the gate would have allowed it.

    Calls are placed in the order they happen, across all leads (a heap of each lead's next
    call), so when one is placed every earlier call to the same number is known, as the gate
    counts them for the attempt caps. A call moved later goes back in the heap, to be checked
    again among the calls placed meanwhile. A call that would not have ended by now has not
    happened: it and the lead's later calls are dropped.
    """
    from compliance.gate import candidate_places  # the gate imports models: app must be ready

    places = [candidate_places(plan.lead) for plan in plans]
    calls_to: dict[str, list[tuple[datetime.datetime, str]]] = defaultdict(list)
    queue = [
        (plan.lead.received_at + plan.attempt_gaps[0], index, 0)
        for index, plan in enumerate(plans)
        if plan.attempt_count
    ]
    heapq.heapify(queue)
    while queue:
        at, index, number = heapq.heappop(queue)
        plan = plans[index]
        zones, states = places[index]
        earlier = calls_to[str(plan.lead.phone)]
        lawful_at = _call_lawful_from(
            zones=zones, states=states, product=plan.lead.product, earlier=earlier, at=at
        )
        if lawful_at is None:
            continue  # no lawful hour in the gate's horizon: the lead is not called again
        if lawful_at > at:
            heapq.heappush(queue, (lawful_at, index, number))
            continue
        ended = at + plan.call_length(number)
        if ended > now:
            continue
        plan.calls.append((at, ended))
        earlier.append((at, plan.lead.product))
        if number + 1 < plan.attempt_count:
            heapq.heappush(queue, (ended + plan.attempt_gaps[number + 1], index, number + 1))


def _call_lawful_from(*, zones, states, product, earlier, at) -> datetime.datetime | None:
    """Return `at` if the gate would allow a rep's call then, else a later instant to try.

    None when the hours allow no call within the gate's search horizon.
    """
    hours = hours_check(zones=zones, states=states, at=at, channel=Channel.CALL)
    if not hours.allowed:
        return hours.next_allowed_at
    caps = [cap for cap in attempt_caps_for(states) if Channel.CALL in cap.channels]
    frees_at = [until for cap in caps if (until := _cap_frees_at(cap, earlier, product, at))]
    return max(frees_at, default=at)


def _cap_frees_at(cap: AttemptCap, earlier, product: str, at) -> datetime.datetime | None:
    """Return when `cap` frees a slot, if the calls before `at` have reached it; else None."""
    counted = sorted(
        started
        for started, called_about in earlier
        if at - cap.window < started <= at and (not cap.same_product or called_about == product)
    )
    if len(counted) < cap.limit:
        return None
    return counted[len(counted) - cap.limit] + cap.window


def _outcomes_settle(plans: list[LeadPlan]) -> None:
    """Match each lead's status to the calls it really had."""
    for plan in plans:
        lead = plan.lead
        if len(plan.calls) < plan.attempt_count:
            # The calls that would have decided its planned outcome are still to come.
            lead.status = LeadStatus.WORKING if plan.calls else LeadStatus.NEW
            plan.attempt_count = len(plan.calls)
        if plan.calls:
            lead.first_attempt_at = plan.calls[0][0]
            lead.last_attempt_at = plan.calls[-1][0]
        elif lead.status in OPEN_STATUSES:
            # Never called: its speed-to-lead clock ran out long ago, and its escalations
            # are history, so the demo's clock does not flood the reps with alerts.
            lead.sla_due_at = lead.received_at + datetime.timedelta(minutes=5)
            lead.sla_stage = 3
        if lead.status in CONTACTED_STATUSES:
            lead.first_contact_at = plan.calls[0][0]


def _score(plan: LeadPlan, weights) -> None:
    """Score the lead as the fast lane would have, with its factors."""
    channels = set(plan.consent_channels) if plan.has_consent else set()
    # Demo leads are new to Leadline: no source has a record yet, and none has replied.
    score = lead_score(
        lead=plan.lead,
        consent_channels=channels,
        weights=weights,
        source_stats=NO_STATS,
        inbound_channels=set(),
    )
    plan.lead.score, plan.lead.score_factors = score.total, score.as_stored()


def _owners_route(plans: list[LeadPlan], profiles: list[RepProfile]) -> None:
    """Give each lead, as it arrived, to the least busy rep licensed for its state.

    Open leads go only to reps under their capacity; a new lead no rep has claimed yet, or
    one no rep has room for, waits in the pool.
    """
    open_leads = {profile.pk: profile.open_lead_count for profile in profiles}
    for plan in sorted(plans, key=lambda plan: plan.lead.received_at):
        lead = plan.lead
        licensed = [profile for profile in profiles if profile.is_licensed_in(lead.state)]
        plan.caller = licensed[0].user if licensed else profiles[0].user
        if lead.status == LeadStatus.NEW and plan.waits_in_pool:
            continue
        is_open = lead.status in OPEN_STATUSES
        eligible = [p for p in licensed if not is_open or open_leads[p.pk] < p.capacity]
        if not eligible:
            continue
        profile = min(eligible, key=lambda p: open_leads[p.pk])
        lead.owner = plan.caller = profile.user
        if is_open:
            open_leads[profile.pk] += 1


def _consent_for(lead: Lead, plan: LeadPlan) -> ConsentRecord:
    sellers = [*settings.SELLER_NAMES, lead.source.name]
    return ConsentRecord(
        lead=lead,
        channels=plan.consent_channels,
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


def _attempts_for(lead: Lead, plan: LeadPlan) -> list[ContactAttempt]:
    attempts = []
    for number, (started, ended) in enumerate(plan.calls):
        disposition = plan.disposition(number)
        attempts.append(
            ContactAttempt(
                lead=lead,
                channel=Channel.CALL,
                direction=Direction.OUTBOUND,
                rep=plan.caller,
                started_at=started,
                ended_at=ended,
                duration_seconds=int((ended - started).total_seconds()),
                disposition=disposition,
                notes=NOTES.get(disposition, ""),
            )
        )
    return attempts


def _opt_out_for(lead: Lead, plan: LeadPlan, now: datetime.datetime) -> Suppression:
    """The stop the lead asked for on its last call, or by text just after it."""
    last_call_ended = plan.calls[-1][1]
    if plan.opt_out_by_text:
        return Suppression(
            phone=lead.phone,
            channel_scope=SuppressionScope.ALL,
            origin=SuppressionOrigin.SMS_KEYWORD,
            reason='Replied "STOP"',
            received_at=min(last_call_ended + datetime.timedelta(minutes=2), now),
            lead=lead,
        )
    return Suppression(
        phone=lead.phone,
        channel_scope=SuppressionScope.ALL,
        origin=SuppressionOrigin.REP,
        reason="Said on a call: stop calling me",
        received_at=last_call_ended,
        lead=lead,
    )


@transaction.atomic
def demo_data_load(*, lead_count: int = 2000, seed: int = 20261122) -> DemoSummary:
    """Create the demo business; records that already exist are kept as they are."""
    if not 0 <= lead_count <= MAX_DEMO_LEADS:
        raise ValueError(f"The demo has room for 0 to {MAX_DEMO_LEADS:,} leads.")
    roles_sync()
    summary = DemoSummary()
    profiles = _people_ensure(summary)
    sources = _sources_ensure(summary)
    rng = random.Random(seed)
    now = timezone.now()
    plans = [_lead_plan(rng, index, sources, now) for index in range(lead_count)]
    existing = set(
        Lead.objects.filter(source_lead_id__startswith=DEMO_LEAD_PREFIX).values_list(
            "source_id", "source_lead_id"
        )
    )
    plans = [p for p in plans if (p.lead.source_id, p.lead.source_lead_id) not in existing]
    if not plans:
        return summary
    _duplicates_pair(plans)
    _calls_schedule(plans, now)
    _outcomes_settle(plans)
    _owners_route(plans, profiles)
    # Originals first, so each duplicate is stored (and its history written) pointing at one.
    firsts = [plan for plan in plans if plan.duplicate_of is None]
    seconds = [plan for plan in plans if plan.duplicate_of is not None]
    weights = factor_weights()
    for plan in firsts:
        _score(plan, weights)
    bulk_create_with_history([plan.lead for plan in firsts], Lead, batch_size=500)
    for plan in seconds:
        plan.lead.duplicate_of = plan.duplicate_of.lead
        _score(plan, weights)
    bulk_create_with_history([plan.lead for plan in seconds], Lead, batch_size=500)
    consents, suppressions, attempts = [], [], []
    for plan in plans:
        lead = plan.lead
        consent = _consent_for(lead, plan) if plan.has_consent else None
        if lead.status == LeadStatus.DO_NOT_CONTACT:
            opt_out = _opt_out_for(lead, plan, now)
            suppressions.append(opt_out)
            if consent:
                consent.revoked_at = opt_out.received_at
                consent.revocation_means = (
                    RevocationMeans.SMS_KEYWORD if plan.opt_out_by_text else RevocationMeans.VERBAL
                )
        if consent:
            consents.append(consent)
        attempts.extend(_attempts_for(lead, plan))
    bulk_create_with_history(consents, ConsentRecord, batch_size=500)
    bulk_create_with_history(suppressions, Suppression, batch_size=500)
    bulk_create_with_history(attempts, ContactAttempt, batch_size=500)
    leads = [plan.lead for plan in plans]
    summary.conversions_created, summary.returns_created = _ledger_record(plans, rng)
    summary.touches_created = _welcome_texts_plan(leads, rng, now)
    summary.touches_created += _callbacks_plan(leads, rng, now)
    summary.enrollments_created = _cadences_start(leads)
    summary.leads_created = len(leads)
    summary.consents_created = len(consents)
    summary.suppressions_created = len(suppressions)
    summary.attempts_created = len(attempts)
    # The dashboard's figures of the demo's weeks (the clock keeps only the last days fresh).
    first_day = min(lead.received_at for lead in leads).date()
    rollups_rebuild(
        days=[
            first_day + datetime.timedelta(days=n) for n in range((now.date() - first_day).days + 1)
        ]
    )
    return summary


def _ledger_record(plans: list[LeadPlan], rng: random.Random) -> tuple[int, int]:
    """Record the conversions and returns the demo's outcomes stand for, each with the
    feedback event the source would receive; return how many of each."""
    conversions, returns = [], []
    for plan in plans:
        lead = plan.lead
        if lead.status in CONTACTED_STATUSES and plan.calls:
            conversions.append(_conversion(lead, plan, ConversionKind.CONTACTED, plan.calls[0][0]))
        if lead.status in (LeadStatus.APPOINTMENT, LeadStatus.WON) and plan.calls:
            conversions.append(
                _conversion(lead, plan, ConversionKind.APPOINTMENT, plan.calls[-1][1])
            )
        if lead.status == LeadStatus.WON and plan.calls:
            sale = _conversion(lead, plan, ConversionKind.SALE, plan.calls[-1][1])
            sale.revenue = Decimal(rng.randrange(800, 12_000, 50))
            conversions.append(sale)
        if lead.status == LeadStatus.RETURNED and plan.calls:
            returned_at = plan.calls[-1][1]
            returns.append(
                LeadReturn(
                    lead=lead,
                    source=lead.source,
                    reason=ReturnReason.BAD_NUMBER,
                    note="The number is disconnected.",
                    status=ReturnStatus.ACCEPTED,
                    credit=lead.cost,
                    origin=ReturnOrigin.REP,
                    requested_by=plan.caller,
                    requested_at=returned_at,
                    decided_at=returned_at + datetime.timedelta(days=1),
                )
            )
    Conversion.objects.bulk_create(conversions, batch_size=500)
    LeadReturn.objects.bulk_create(returns, batch_size=500)
    for conversion in conversions:
        conversion_feedback_record(conversion=conversion)
    for lead_return in returns:
        for event_type, at in (
            (FeedbackEventType.RETURNED, lead_return.requested_at),
            (FeedbackEventType.RETURN_ACCEPTED, lead_return.decided_at),
        ):
            feedback_event_record(
                lead=lead_return.lead, type=event_type, occurred_at=at, lead_return=lead_return
            )
    return len(conversions), len(returns)


def _conversion(lead: Lead, plan: LeadPlan, kind: str, at: datetime.datetime) -> Conversion:
    return Conversion(
        lead=lead, kind=kind, occurred_at=at, origin=ConversionOrigin.REP, recorded_by=plan.caller
    )


def _callbacks_plan(leads: list[Lead], rng: random.Random, now) -> int:
    """Plan callbacks some contacted leads asked for, due over the next two hours, so the
    reps' queues show callbacks coming back at their time."""
    from leads.workspace.calls import callback_schedule  # imports the gate

    chosen = [lead for lead in leads if lead.owner_id and lead.status == LeadStatus.CONTACTED][:12]
    for lead in chosen:
        callback_schedule(
            lead=lead,
            due_at=now + datetime.timedelta(minutes=rng.randint(3, 120)),
            rep=lead.owner,
            note="Asked to be called back later today.",
        )
    return len(chosen)


def _cadences_start(leads: list[Lead]) -> int:
    """Enrol some of the reps' newest leads in their cadence, planned from when each
    arrived, as the fast lane would have: the steps already due are sent now (or wait for
    the lead's hours), the later ones wait for their time."""
    from leads.cadences.engine import cadence_start  # imports the gate

    owned = [lead for lead in leads if lead.owner_id and lead.status == LeadStatus.NEW]
    chosen = sorted(owned[30:], key=lambda lead: lead.received_at, reverse=True)[:40]
    return sum(cadence_start(lead=lead, at=lead.received_at) is not None for lead in chosen)


def _welcome_texts_plan(leads: list[Lead], rng: random.Random, now) -> int:
    """Plan welcome texts through the gate for some of the reps' leads, due soon.

    The gate decides each as it would for real: some wait for the lead's calling hours,
    texts to leads who opted out are blocked, and the clock sends the rest when due.
    """
    from leads.cadences.touches import touch_schedule  # imports the gate, which needs the app ready

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
