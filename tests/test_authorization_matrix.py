"""Every URL the project serves, asked by every persona: nobody reaches what they should not.

The URLs come from walking the URLconf (the admin's, django-rq's and the API's included), each
filled with the primary keys of objects the rep and the source own. A pattern that no rule
below covers fails the test by name, so a new URL gets a rule when it is added.
"""

import json
import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from compliance.models import ContactDecision, DncList
from crm.roles import REP
from leads.feedback.returns import return_request
from leads.feedback.tokens import api_token_create
from leads.models import (
    Cadence,
    CadenceEnrollment,
    Conversion,
    FeedbackFile,
    ImportRun,
    ScoringFactor,
    Touch,
)
from tests.factories import (
    ConsentRecordFactory,
    ContactAttemptFactory,
    LeadFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "rep", "other_rep", "manager", "source", "other_source")
MARKER = "Zebedee"  # the rep's lead's first name: shown to the rep and the manager only


@dataclass(frozen=True)
class Expect:
    statuses: frozenset[int]
    redirect_to: str = ""  # the Location must start with this

    def problem(self, response) -> str:
        if response.status_code not in self.statuses:
            return f"{response.status_code}, expected {sorted(self.statuses)}"
        location = response.get("Location", "")
        if self.redirect_to and not location.startswith(self.redirect_to):
            return f"redirected to {location!r}, expected {self.redirect_to}..."
        return ""


def expect(*statuses: int, redirect_to: str = "") -> Expect:
    return Expect(frozenset(statuses), redirect_to)


LOGIN = expect(302, redirect_to="/login/?next=")
ADMIN_LOGIN = expect(302, redirect_to="/admin/login/?next=")
ANSWERS = expect(200, 204, 301, 302, 400, 404, 405)  # anything but a server error
SIGNED_IN = expect(200, 302)
MANAGER_ADMIN = expect(200, 302, 404, 405)
FORBIDDEN = expect(403)
NO_KEY = expect(401)


def everyone(outcome: Expect) -> dict[str, Expect]:
    return dict.fromkeys(PERSONAS, outcome)


# What each kind of URL answers each persona. Where a view takes only POST (its GET is a
# 405, or the kind says so), the POST's answer is the one compared.
KINDS = {
    "admin": {**everyone(ADMIN_LOGIN), "manager": MANAGER_ADMIN},
    "rep_page": {**everyone(LOGIN), "rep": SIGNED_IN, "other_rep": SIGNED_IN, "manager": SIGNED_IN},
    "own_lead": {
        **everyone(LOGIN),
        "rep": SIGNED_IN,
        "other_rep": expect(404),
        "manager": SIGNED_IN,  # managers see and work every lead
    },
    # A call's outcome is the caller's to record: even a manager gets a 404 for a rep's call.
    "own_call": {
        **everyone(LOGIN),
        "rep": SIGNED_IN,
        "other_rep": expect(404),
        "manager": expect(404),
    },
    "vendor_api": {
        **everyone(NO_KEY),
        "source": expect(200, 201, 422),  # the rep's lead again: a replay
        "other_source": expect(200, 201, 422),  # the same source_lead_id: never the first's lead
    },
    # Feedback exports: a source's own leads only (leaks() checks the other source's answer).
    "source_feedback": {
        **everyone(NO_KEY),
        "source": expect(200, 202, 422),
        "other_source": expect(200, 202, 422),
    },
    "source_file": {**everyone(NO_KEY), "source": expect(200, 409), "other_source": expect(404)},
    "public": everyone(ANSWERS),
    "rq_stats": {**everyone(NO_KEY), "manager": expect(200)},  # or the RQ_API_TOKEN
    "signed_webhook": everyone(FORBIDDEN),  # unsigned, DEBUG off: refused whoever asks
    # The business's own systems, with an API token: a person's session or a source's key
    # is refused, nobody at all is asked to authenticate.
    "buyer_api": {**everyone(FORBIDDEN), "anonymous": NO_KEY},
}
POST_ONLY_KINDS = {"vendor_api", "signed_webhook", "buyer_api"}

# The first rule whose pattern matches a URL pattern's route gives its kind.
RULES = (
    (r"admin/(login|logout)/$", "public"),
    (r"admin/(rq|django_rq/dashboard)/stats\.json/", "rq_stats"),
    (r"admin/leads/scoringfactor/rescore/", "admin"),  # rescore leads, watch the job
    (r"admin/", "admin"),
    (r"api/v1/(schema|docs)/", "public"),
    (r"api/v1/leads/", "vendor_api"),
    (r"api/v1/feedback/files/<str:file_id>/", "source_file"),
    (r"api/v1/feedback/", "source_feedback"),
    (r"api/v1/(conversions|returns)/", "buyer_api"),
    (r"leads/<int:lead_id>/call/<int:attempt_id>/outcome/", "own_call"),
    (r"leads/<int:lead_id>/cadence/<slug:action>/", "own_lead"),  # pause, resume
    (r"leads/<int:lead_id>/", "own_lead"),
    (r"(leads/|leads/next/|leads/alerts/seen/)?$", "rep_page"),
    (r"(healthz|login/|logout/|u/<str:token>/)$", "public"),
    (r"webhooks/voice/<str:token>/", "signed_webhook"),  # Twilio's, for the call bridge
    (r"webhooks/", "signed_webhook"),
)

# Admin pages a manager is refused on purpose (crm.roles: what a manager may do).
MANAGER_FORBIDDEN = (
    (r"admin/autocomplete/$", "asked without the field to complete"),
    (r"admin/auth/group/", "the roles are crm.roles' code, not edited"),
    (r"admin/django_celery_beat/\w+schedule/", "the clock's schedules are code"),
    (r"admin/axes/(accesslog/|\w+/add/)", "sign-in records are the superuser's"),
    (
        r"admin/(leads/(touch|feedbackevent)|compliance/contactdecision)/add/",
        "only the app makes these",
    ),
    (r"admin/leads/apitoken/add/", "tokens are made by manage.py create_api_token, shown once"),
    (
        r"admin/leads/(leadreturn|feedbackevent|apitoken)/<path:object_id>/delete/",
        "returns, the outbox and tokens are records, never deleted",
    ),
    (r"admin/django_rq/dashboard/(add/|<path:object_id>/delete/)", "the RQ dashboard is no record"),
    (r"admin/leads/scoringfactor/<path:object_id>/delete/", "the scoring rules' factors stay"),
    (r"admin/leads/cadenceenrollment/(add/|<path:object_id>/delete/)", "the engine keeps these"),
    (r"admin/leads/cadence/<path:object_id>/delete/", "a cadence leads followed stays"),
    (
        r"admin/(compliance/\w+|leads/(contactattempt|touch|importrun|conversion)|auth/user"
        r"|axes/accessfailurelog)/<path:object_id>/delete/",
        "evidence and accounts are never deleted",
    ),
)

# Patterns no URL can reach: another pattern before them takes every URL they match.
SHADOWED = {
    "admin/r/<path:content_type_id>/<path:object_id>/": "crm.admin_site's view-on-site",
}


class StaleLink(NamedTuple):
    route: str
    personas: tuple[str, ...]
    reason: str
    values: dict  # fill the route with these (a stale link)


# Links to what the queue no longer has: the matrix fills live ids, these fill stale ones.
# Each was a 500 for the manager (crm.admin now answers 404).
RQ_DASHBOARD = "admin/django_rq/dashboard/"  # served only with REDIS_URL
STALE_LINKS = [
    *(
        StaleLink(
            f"{RQ_DASHBOARD}queues/<int:queue_index>/<str:job_id>/{page}",
            ("manager",),
            "a job Redis no longer keeps",
            {"job_id": "expired-job"},
        )
        for page in ("", "delete/", "requeue/", "enqueue/")
    ),
    StaleLink(
        f"{RQ_DASHBOARD}workers/<int:queue_index>/<str:key>/",
        ("manager",),
        "a worker that has stopped",
        {"key": "rq:worker:stopped"},
    ),
]


def _join(prefix: str, pattern) -> str:
    # As Django joins them for ResolverMatch.route.
    part = str(pattern.pattern)
    return prefix + (part[1:] if prefix and part.startswith("^") else part)


def _routes(resolver=None, prefix=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        route = _join(prefix, pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route


def all_routes() -> list[str]:
    return list(dict.fromkeys(_routes()))  # a repeated route reaches only its first view


def kind_of(route: str) -> str | None:
    path = route.lstrip("^")
    return next((kind for rule, kind in RULES if re.match(rule, path)), None)


ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
REGEX_GROUP = re.compile(r"\((?:\?P<(\w+)>)?[^()]*\)\??")
ADMIN_MODEL = re.compile(r"admin/(\w+)/(\w+)/")


class World:
    """The objects the URLs are filled with: the rep's lead and everything hanging off it."""

    def __init__(self, *, rep, other_rep, manager, source, other_source):
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog
        from django_celery_beat.models import (
            ClockedSchedule,
            CrontabSchedule,
            IntervalSchedule,
            PeriodicTask,
            SolarSchedule,
        )

        self.users = {"rep": rep, "other_rep": other_rep, "manager": manager}
        self.keys = {"source": source.api_key, "other_source": other_source.api_key}
        self.source = source
        self.lead = LeadFactory(source=source, owner=rep, first_name=MARKER, email="")
        LeadFactory(source=other_source, owner=other_rep)
        self.attempt = ContactAttemptFactory(lead=self.lead, rep=rep)
        now = timezone.now()
        interval = IntervalSchedule.objects.create(every=5, period="seconds")
        lead_return = return_request(lead=self.lead, reason="fraud", origin="rep", by=rep)
        seen = {"user_agent": "pytest", "ip_address": "198.51.100.7", "username": "rep.one"}
        self.objects = {
            "auth.group": Group.objects.get(name=REP),
            "auth.user": rep,
            "django_celery_beat.periodictask": PeriodicTask.objects.create(
                name="tick", task="leads.tasks.dispatch_due_touches", interval=interval
            ),
            "django_celery_beat.intervalschedule": interval,
            "django_celery_beat.clockedschedule": ClockedSchedule.objects.create(clocked_time=now),
            "django_celery_beat.crontabschedule": CrontabSchedule.objects.create(),
            "django_celery_beat.solarschedule": SolarSchedule.objects.create(
                event="sunrise", latitude=25.77, longitude=-80.19
            ),
            "axes.accessattempt": AccessAttempt.objects.create(
                **seen, failures_since_start=1, get_data="", post_data="", path_info="/login/"
            ),
            "axes.accesslog": AccessLog.objects.create(**seen, path_info="/login/"),
            "axes.accessfailurelog": AccessFailureLog.objects.create(**seen, path_info="/login/"),
            "leads.leadsource": source,
            "leads.lead": self.lead,
            "leads.contactattempt": self.attempt,
            "leads.repprofile": rep.rep_profile,
            "leads.touch": Touch.objects.create(lead=self.lead, channel="sms", body="Hello"),
            "leads.scoringfactor": ScoringFactor.objects.get(key="base"),
            "leads.conversion": Conversion.objects.create(
                lead=self.lead, kind="contacted", origin="admin", occurred_at=now
            ),
            "leads.importrun": ImportRun.objects.create(
                source=source, file="imports/leads.csv", columns=["phone"], created_by=manager
            ),
            "compliance.consentrecord": ConsentRecordFactory(lead=self.lead),
            "leads.leadreturn": lead_return,
            "leads.feedbackevent": lead_return.events.get(),
            "leads.apitoken": api_token_create(user=manager)[0],
            "compliance.suppression": SuppressionFactory(lead=self.lead),
            "compliance.dnclist": DncList.objects.create(kind="national", list_date=now.date()),
            "django_rq.dashboard": SimpleNamespace(pk=1),  # django-rq's model has no table
            "leads.cadence": Cadence.objects.get(is_default=True),
            "leads.cadenceenrollment": CadenceEnrollment.objects.create(
                lead=self.lead, cadence=Cadence.objects.get(is_default=True), started_at=now
            ),
            "compliance.contactdecision": ContactDecision.objects.create(
                lead=self.lead,
                channel="call",
                automated=False,
                stage="request",
                decided_for=now,
                allowed=True,
            ),
        }
        self.values = {
            "lead_id": self.lead.pk,
            "attempt_id": self.attempt.pk,
            "kind": "verbal",
            "action": "pause",
            "channel": "sms",
            "token": "notavalidtoken",
            "app_label": "leads",
            "url": "no-such-page/",
            "id": rep.pk,
            "run_id": self.objects["leads.importrun"].pk,
            "file_id": FeedbackFile.objects.create(source=source, since=now, until=now).pk,
            "import_id": uuid.uuid4(),
            "content_type_id": ContentType.objects.get_for_model(source).pk,
            "queue_index": 0,
            "scheduler_index": 0,
            "connection_index": 0,
            "job_id": "no-such-job",
            "result_id": "no-such-result",
            "key": "no-such-worker",
            "scheduler_name": "no-such-scheduler",
            "cron_job_name": "no-such-cron-job",
        }

    def url_for(self, route: str) -> str:
        """Return a URL for the route, its parameters filled; KeyError names one unknown."""
        model = ADMIN_MODEL.match(route)
        owner = self.objects.get(".".join(model.groups())) if model else None
        if route.startswith("admin/r/"):
            owner = self.source
        # simple-history's form view: ^([^/]+)/history/([^/]+)/$, the object and its record
        unnamed = iter([lambda: owner.pk, lambda: owner.history.latest().history_id])

        def value(name):
            if name in ("object_id", None) and owner is None:
                raise KeyError(f"object for {route}")
            if name == "object_id":
                return owner.pk
            return self.values[name] if name else next(unnamed)()

        url = REGEX_GROUP.sub(lambda m: str(value(m[1])), route)
        url = ROUTE_PARAMETER.sub(lambda m: str(value(m[1])), url)
        return "/" + url.replace("^", "").replace("$", "").replace("/?", "/")

    def post_body(self, kind: str):
        if kind == "vendor_api":
            lead = {"source_lead_id": self.lead.source_lead_id, "phone": "(305) 555-0199"}
            return json.dumps({**lead, "leads": [lead]}), "application/json"
        if kind == "signed_webhook":
            return "From=%2B13055550177&Body=hello", "application/x-www-form-urlencoded"
        return "", "application/x-www-form-urlencoded"


@pytest.fixture
def world(rep, other_rep, manager, source, other_source):
    world = World(
        rep=rep, other_rep=other_rep, manager=manager, source=source, other_source=other_source
    )
    if not settings.REDIS_URL:
        yield world  # no RQ dashboard is served
        return
    import django_rq
    from rq import Queue, Worker

    # A real job and a real worker for the RQ dashboard's pages, gone after the test.
    queue = Queue(settings.RQ_QUEUE_NAMES[0], connection=django_rq.get_connection())
    job = queue.enqueue("builtins.print", "authorization matrix")
    worker = Worker([queue], connection=queue.connection, name=f"matrix-{uuid.uuid4().hex}")
    worker.register_birth()
    world.values.update(job_id=job.id, key=worker.key)
    yield world
    worker.register_death()
    queue.connection.delete(worker.key)
    queue.remove(job.id)
    job.delete()


class PersonaClient:
    """A test client that stays signed in as its persona, even past a logout URL."""

    def __init__(self, persona: str, world: World):
        self.user = world.users.get(persona)
        key = world.keys.get(persona)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # A server error is one more violation to list, not the end of the run.
        self.client = Client(headers=headers, raise_request_exception=False)

    def request(self, method: str, url: str, body="", content_type=""):
        session = self.client.cookies.get(settings.SESSION_COOKIE_NAME)
        if self.user and not (session and session.value):
            self.client.force_login(self.user)
        # Each request in a savepoint, as each has its own transaction in production: a
        # query that failed (answered as a 500) must not abort the test's transaction.
        try:
            with transaction.atomic():
                response = self._send(method, url, body, content_type)
        except DatabaseError:
            pass  # the savepoint is rolled back; the response stands
        return response

    def _send(self, method, url, body, content_type):
        if method == "GET":
            return self.client.get(url)
        return self.client.post(url, body, content_type=content_type)


def expected_outcome(kind: str, persona: str, route: str) -> Expect:
    redirect_to_change = route.endswith("/<path:object_id>/")  # the refusal comes after it
    forbidden = any(re.match(rule, route) for rule, _ in MANAGER_FORBIDDEN)
    if persona == "manager" and forbidden and not redirect_to_change:
        return FORBIDDEN
    return KINDS[kind][persona]


def _lead_ids(body) -> set:
    if isinstance(body, dict):
        found = {body["id"]} if "id" in body else set()
        return found.union(*(_lead_ids(value) for value in body.values()))
    if isinstance(body, list):
        return set().union(*(_lead_ids(value) for value in body))
    return set()


def leaks(persona: str, kind: str, response, world: World) -> str:
    """Say what a response shows that this persona must never see, or ""."""
    if persona not in ("rep", "manager") and MARKER.encode() in response.content:
        return f"shows the rep's lead ({MARKER})"
    feedback = kind in ("source_feedback", "source_file")
    if (
        persona == "other_source"
        and feedback
        and world.lead.source_lead_id.encode() in response.content
    ):
        return "shows the first source's lead"
    if persona == "other_source" and kind == "vendor_api":
        answer = json.loads(response.content or b"null")
        if world.lead.pk in _lead_ids(answer):
            return "answers with the first source's lead"
        world.lead.refresh_from_db()
        if world.lead.source_id != world.source.pk or world.lead.first_name != MARKER:
            return "changed the first source's lead"
    return ""


def check(persona: str, route: str, client: PersonaClient, world: World) -> list[str]:
    """Ask the route as the persona; return what went wrong, one line each."""
    kind = kind_of(route)
    if kind is None:
        return [f"{route}: no rule in RULES covers this URL pattern"]
    try:
        url = world.url_for(route)
    except KeyError as unknown:
        return [f"{route}: no value to fill {unknown} with (World.values or World.objects)"]
    if route not in SHADOWED and resolve(url).route != route:
        return [f"{route}: {url} reaches {resolve(url).route} instead"]
    problems = []
    response = client.request("GET", url)
    if kind in POST_ONLY_KINDS or response.status_code == 405:
        if response.status_code >= 500:
            problems.append(f"GET {response.status_code}")
        response = client.request("POST", url, *world.post_body(kind))
        method = "POST"
    else:
        method = "GET"
    wrong = expected_outcome(kind, persona, route).problem(response)
    leak = leaks(persona, kind, response, world) if response.status_code < 500 else ""
    problems += [p for p in (wrong, leak) if p]
    return [f"{persona} {method} {url} ({kind}): {p}" for p in problems]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_url_answers_each_persona_as_the_rules_say(persona, world):
    client = PersonaClient(persona, world)
    violations = [
        problem for route in all_routes() for problem in check(persona, route, client, world)
    ]

    assert not violations, "\n".join(["", *violations])


@pytest.mark.parametrize("stale", STALE_LINKS, ids=lambda stale: f"{stale.route} ({stale.reason})")
def test_links_to_what_the_queue_no_longer_has_never_crash(stale, world):
    if stale.route not in all_routes():
        pytest.skip(f"{stale.route} is not served with these settings")
    world.values.update(stale.values)
    violations = [
        problem
        for persona in stale.personas
        for problem in check(persona, stale.route, PersonaClient(persona, world), world)
    ]

    assert not violations, "\n".join(["", *violations])


def test_the_matrix_names_a_leak_and_an_uncovered_url(world, monkeypatch):
    from leads import views
    from leads.models import Lead

    # The rep pages forget whose lead it is: the other rep would see it.
    monkeypatch.setattr(
        views, "lead_for_rep_or_404", lambda *, rep, lead_id: Lead.objects.get(pk=lead_id)
    )
    client = PersonaClient("other_rep", world)

    leak = check("other_rep", "leads/<int:lead_id>/", client, world)
    uncovered = check("other_rep", "exports/<int:lead_id>/", client, world)

    assert leak == [
        f"other_rep GET /leads/{world.lead.pk}/ (own_lead): 200, expected [404]",
        f"other_rep GET /leads/{world.lead.pk}/ (own_lead): shows the rep's lead ({MARKER})",
    ]
    assert uncovered == ["exports/<int:lead_id>/: no rule in RULES covers this URL pattern"]
