"""Time "next lead" on a busy floor: claims from 50 reps at once, and the rep pages over HTTP.

Usage: .venv/bin/python bench/queue.py [--leads 1000000] [--open 100000] [--reps 50]
           [--rate 25] [--seconds 60] [--bare-seconds 30] [--http-seconds 30]
           [--no-pause-seconds 15] [--page-requests 200] [--workers 5] [--explain] [--quick]

Needs PostgreSQL: DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test);
the benchmark creates and uses its own database on that server, BENCH_DATABASE (default
leadline_bench_queue; leadline_bench_queue_quick with --quick, which runs 20,000 leads, 2,000
open and 5 reps in seconds, to show that the benchmark still runs: its figures mean nothing).
And Redis for Django's cache, as in production (REDIS_URL, default redis://127.0.0.1:6379/15,
/14 with --quick; only cache keys are written): without a shared cache each rep's process
reads the sources' 90-day records that call_start's rescore needs by itself.

Loads (once; a later run with the same sizes reuses it, a couple of minutes the first time)
--leads leads over a year, the newest --open of them open, in 43 real places from Eastern
time to Hawaii, each with a consent naming the business, and the calls of the past (none in
the last 26 hours, so no attempt cap is near). Every run then sets the open leads' queue
afresh for the real clock, as the app stores it: owners (most open leads are the reps', the
pool holds the leads routing could not place), priority bands and order
(`leads.workspace.queue.lead_standing`: callbacks, SLA about to break, never called, called
before), and each lead's calling window from the compliance gate's own hours rules at the
run's instant (leads where calling hours are closed now wait for them, as in production).
Claims from earlier runs are deleted first, so every run starts from the same queue.

Then, with --reps reps as processes of their own (one database connection each, warmed up
by one undone press), pressing "next lead" at random, --rate presses a second in all (a
Poisson process; 25/s is a rep pressing every 2 s on average):
- the bare query, `SELECT id ... FOR UPDATE SKIP LOCKED` over the rep's own leads and the
  pool on lead_next_idx, in a transaction, paced the same way: the baseline;
- `lead_claim_next`, each claim followed by what the rep's call does to the lead's place in
  the queue, as one `UPDATE` (it moves to the end of the called-before band, so the next
  press gets another lead): the claim's own latency on a busy floor;
- `lead_claim_next`, each claim followed by the real `call_start` (the gate asked and its
  decision kept, the call logged, the lead rescored and moved), timed apart;
- the same through gunicorn: POST /leads/next/, then POST /leads/<id>/call/;
- with no pause, every rep pressing again as soon as answered: the claims a second the
  machine sustains, with call_start or the one UPDATE after each, beside the bare query;
- every claimed lead checked: claimed by one rep only, at most one claim assignment each,
  owned by its claimer after the run;
- the queue page (/leads/, 50 rows of a rep's 800 open leads) and the lead page
  (/leads/<id>/, the long and the short history) through gunicorn, p50 and p95, beside a bare
  page served by the same app with the same middleware (a logged-in page that renders
  base.html and nothing else);
- the SQL statements of the queue page at 10 and 50 rows and of the lead page with a short,
  a medium and a long history (1, 20 and 120 calls; the medium and the long one with texts,
  consents and opt-outs alike, so a count that differs between them grows with the rows),
  in-process (the test client against the benchmark's database).
"""

import sys
from pathlib import Path

# Run as a script, Python puts this file's folder first on sys.path, where this module would
# hide the standard library's `queue` (multiprocessing, logging and HTTP clients import it).
HERE = Path(__file__).resolve().parent
for entry in [p for p in sys.path if Path(p or ".").resolve() == HERE]:
    sys.path.remove(entry)
sys.path.insert(0, str(HERE.parent))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from graphlib import TopologicalSorter  # noqa: E402
from http.cookies import SimpleCookie  # noqa: E402
from typing import NamedTuple  # noqa: E402

from bench._common import ROOT, insert_select_parts, server_env, setup_django  # noqa: E402

DEFAULT_DATABASE = "leadline_bench_queue"
QUICK_DATABASE = "leadline_bench_queue_quick"
QUICK_SIZES = {
    "leads": 20_000,
    "open": 2_000,
    "reps": 5,
    "rate": 5.0,
    "seconds": 4,
    "bare_seconds": 2,
    "http_seconds": 2,
    "no_pause_seconds": 2,
    "page_requests": 5,
    "workers": 2,
}
PORT = 8803
# Django's cache (only the cache: nothing here queues a task); intake.py's defaults.
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
QUICK_REDIS = "redis://127.0.0.1:6379/14"
SEED = 20261201
DATASET_VERSION = "v3"
SELLER = "Brightside Home Services"
SOURCES = 4
PRODUCTS = ["solar", "roofing", "hvac", "windows", "home_insurance"]
# Beyond leads.demo.CITIES (Eastern to Pacific time): the places whose hours reach furthest.
MORE_PLACES = [
    ("Honolulu", "HI", "96813", "Pacific/Honolulu", "808"),
    ("Anchorage", "AK", "99501", "America/Anchorage", "907"),
    ("San Juan", "PR", "00901", "America/Puerto_Rico", "787"),
]
CLOSED_STATUSES = ["lost", "lost", "lost", "lost", "won", "won", "invalid", "returned",
                   "do_not_contact", "lost"]  # fmt: skip
LAST_SALE = {"won": "sale", "lost": "not_interested", "invalid": "bad_number",
             "returned": "bad_number", "do_not_contact": "do_not_contact"}  # fmt: skip
# The open leads: how many the two page reps own (the first open leads), and what the rest are.
PAGE_SMALL_ROWS = 10
PAGE_REP_LEADS = 800  # fewer with --quick: a twentieth of the open leads
POOL_SHARE_NEVER_CALLED = 0.7  # routing found no rep for them (hours, capacity, licence)
POOL_SHARE_CALLED = 0.15  # handed back to the pool
CALLBACK_SHARE = 0.03  # of the reps' leads called before: a callback pending
CALLBACK_DUE_SHARE = 0.25  # of those, already due
BLOCKED_SHARE = 0.01  # opted out since: the gate bars every call (no window)
NO_RECENT_CALLS = datetime.timedelta(hours=26)
# The page rep's leads after the first PAGE_SMALL_ROWS open ones: histories of three lengths.
# The medium and the long one have the same kinds of rows (calls, texts and emails, consents
# given again, opt-outs recorded by a rep), so a statement count that differs between them
# grows with the rows; the short one has one call and its consent.
HISTORIES = {"short": (1, 0, 0, 0), "medium": (20, 8, 2, 2), "long": (120, 40, 3, 2)}
# (calls, texts and emails, consents beyond the first, opt-outs)
# Whitenoise's warning that no collectstatic ran (pyproject's pytest settings ignore it too).
NO_STATIC_WARNING = "ignore:No directory at:UserWarning"


# ---------------------------------------------------------------------------------------------
# The data set: loaded once per size, its queue set afresh every run.


@dataclass
class Context:
    sources: list[int]
    reps: list[int]  # the reps who claim
    page_small: int  # a rep with PAGE_SMALL_ROWS open leads
    page_rep: int  # a rep with page_rep_leads open leads, the long and the short history
    page_rep_leads: int
    places: list[tuple]
    load_at: datetime.datetime | None = None
    first_open_g: int = 0
    markers: dict[str, int] = field(default_factory=dict)
    history_leads: dict[str, int] = field(default_factory=dict)


class OpenPlan(NamedTuple):
    """What an open lead is, the same every run: drawn from its number."""

    owner: int | None
    status: str
    attempts: list[tuple[datetime.datetime, str]]  # (started_at, disposition), oldest first
    callback_offset: datetime.timedelta | None  # from the run's instant
    blocked: bool


def _places() -> list[tuple]:
    """(city, state, ZIP, zone, area code, the area code's zones) of every place."""
    from leads.demo import CITIES
    from leads.normalize import area_code_places

    return [(*place, area_code_places(place[4])[0]) for place in [*CITIES, *MORE_PLACES]]


def _people(reps: int) -> tuple[list[int], int, int]:
    from django.contrib.auth import get_user_model

    from leads.models import RepProfile

    users = get_user_model().objects

    def rep(username: str, first: str) -> int:
        user, _ = users.get_or_create(
            username=username, defaults={"first_name": first, "last_name": "Bench"}
        )
        RepProfile.objects.get_or_create(user=user, defaults={"capacity": 2000})
        return user.pk

    claimers = [rep(f"bench-queue-rep-{n:02d}", f"Rep{n:02d}") for n in range(reps)]
    return claimers, rep("bench-queue-page-small", "Small"), rep("bench-queue-page", "Page")


def _sources() -> list[int]:
    from leads.models import LeadSource
    from leads.sources import source_create

    return [
        (
            LeadSource.objects.filter(slug=f"bench-queue-{n}").first()
            or source_create(name=f"Bench queue vendor {n}", slug=f"bench-queue-{n}")[0]
        ).pk
        for n in range(SOURCES)
    ]


def _dataset_table(cursor) -> dict:
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS bench_queue_dataset (part text PRIMARY KEY, value jsonb)"
    )
    cursor.execute("SELECT part, value FROM bench_queue_dataset")
    return {part: json.loads(value) if isinstance(value, str) else value for part, value in cursor}


def _remember(cursor, **parts) -> None:
    for part, value in parts.items():
        cursor.execute(
            "INSERT INTO bench_queue_dataset VALUES (%s, %s) "
            "ON CONFLICT (part) DO UPDATE SET value = EXCLUDED.value",
            [part, json.dumps(value, default=str)],
        )


def _referring_models() -> list[tuple]:
    """(model, column) of every reference to a lead, read from the models, each model before
    the models it refers to, and the leads' history last: the order to delete rows in."""
    from leads.models import Lead

    references = [
        relation.field
        for relation in Lead._meta.get_fields(include_hidden=True)
        if relation.auto_created and not relation.concrete and relation.related_model is not Lead
    ]
    models = {reference.model for reference in references}
    order = TopologicalSorter()
    for model in models:
        order.add(model)
        for model_field in model._meta.concrete_fields:
            if model_field.is_relation and model_field.related_model in models - {model}:
                order.add(model_field.related_model, model)
    rank = {model: n for n, model in enumerate(order.static_order())}
    pairs = sorted(((ref.model, ref.column) for ref in references), key=lambda p: rank[p[0]])
    pairs.append((Lead.history.model, "id"))  # the leads' own history rows
    return pairs


def _own_leads_sql(ctx: Context) -> str:
    return f"SELECT id FROM leads_lead WHERE source_id IN ({', '.join(map(str, ctx.sources))})"


def _markers(cursor) -> dict[str, int]:
    markers = {}
    for model, _ in _referring_models():
        pk = model._meta.pk.column
        cursor.execute(f"SELECT coalesce(max({pk}), 0) FROM {model._meta.db_table}")
        markers[model._meta.db_table] = cursor.fetchone()[0]
    return markers


def _delete_rows(cursor, ctx: Context, *, since_load: bool) -> None:
    """Delete the rows that refer to this benchmark's leads: all of them, or (since_load)
    only those written after the load, by earlier runs."""
    for model, column in _referring_models():
        table, pk = model._meta.db_table, model._meta.pk.column
        newer = f" AND {pk} > {int(ctx.markers.get(table, 0))}" if since_load else ""
        cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({_own_leads_sql(ctx)}){newer}")


def load(args, ctx: Context) -> None:
    """Load the leads and what they carry, unless this size is loaded already."""
    from django.db import connection, transaction

    fingerprint = (
        f"{DATASET_VERSION} leads={args.leads} open={args.open} reps={args.reps} "
        f"page={ctx.page_rep_leads}"
    )
    with connection.cursor() as cursor:
        dataset = _dataset_table(cursor)
        cursor.execute(f"SELECT count(*) FROM ({_own_leads_sql(ctx)}) own")
        have = cursor.fetchone()[0]
    if dataset.get("fingerprint") == fingerprint and have == args.leads:
        ctx.load_at = datetime.datetime.fromisoformat(dataset["load_at"])
        ctx.markers = dataset["markers"]
        ctx.first_open_g = args.leads - args.open + 1
        return
    started = time.perf_counter()
    print(f"loading {args.leads:,} leads, {args.open:,} of them open ...", flush=True)
    from django.utils import timezone

    ctx.load_at = timezone.now().replace(microsecond=0)
    ctx.first_open_g = args.leads - args.open + 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        if have:
            _delete_rows(cursor, ctx, since_load=False)
            cursor.execute(f"DELETE FROM leads_lead WHERE id IN ({_own_leads_sql(ctx)})")
            # The deletes' foreign-key checks now, while the indexes they read are there.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        _load_leads(cursor, args, ctx)
        _step("leads", started)
        _load_consents(cursor, ctx)
        _step("consents", started)
        _load_closed_attempts(cursor, ctx)
        _step("closed leads' calls and opt-outs", started)
        _load_open_history(cursor, args, ctx)
        _step("open leads' calls", started)
        ctx.markers = _markers(cursor)
        _remember(cursor, fingerprint=fingerprint, load_at=ctx.load_at.isoformat(),
                  markers=ctx.markers)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _step("loaded, vacuumed and analysed", started)


def _step(label: str, started: float) -> None:
    print(f"  {label}: {time.perf_counter() - started:.0f} s", flush=True)


def _plain_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """The table's indexes that back no constraint: (name, definition)."""
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND indexrelid NOT IN "
        "(SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    return cursor.fetchall()


def _load_leads(cursor, args, ctx: Context) -> None:
    from django.db import connection

    from leads.demo import FIRST_NAMES, LAST_NAMES, STREETS
    from leads.models import Lead

    count = len(ctx.places)
    place = f"(1 + g %% {count})"
    spacing = 365 * 86400 / args.leads  # a year of leads
    received = "(%(load_at)s::timestamptz - ((%(leads)s - g) * %(spacing)s) * interval '1 second')"
    is_open = "(g >= %(first_open)s)"
    varying = {
        "source_id": "(%(sources)s::bigint[])[1 + g %% 4]",
        "source_lead_id": "'Q-' || g",
        "received_at": received,
        "first_name": f"(%(first)s::text[])[1 + g %% {len(FIRST_NAMES)}]",
        "last_name": f"(%(last)s::text[])[1 + (g / 7) %% {len(LAST_NAMES)}]",
        # Unique in each area code: 7919 is prime to 8,000,000.
        "phone": f"'+1' || (%(areas)s::text[])[{place}] || "
        "(2000000 + (g::bigint * 7919) %% 8000000)::text",
        "phone_type": "'mobile'",
        "email": "'q' || g || '@example.com'",
        "street": f"(100 + g %% 9000) || ' ' || (%(streets)s::text[])[1 + g %% {len(STREETS)}]",
        "city": f"(%(cities)s::text[])[{place}]",
        "state": f"(%(states)s::text[])[{place}]",
        "zip_code": f"(%(zips)s::text[])[{place}]",
        "time_zone": f"(%(zones)s::text[])[{place}]",
        "area_code_time_zones": f"(%(area_zones)s::jsonb[])[{place}]",
        "time_zone_mismatch": f"(%(mismatch)s::boolean[])[{place}]",
        "product": f"(%(products)s::text[])[1 + g %% {len(PRODUCTS)}]",
        "cost": "25.00",
        "status": f"CASE WHEN {is_open} THEN 'new' "
        f"ELSE (%(closed)s::text[])[1 + (g * 31) %% {len(CLOSED_STATUSES)}] END",
        "score": "(g * 37) %% 101",
        "owner_id": f"CASE WHEN {is_open} THEN NULL "
        "ELSE (%(owners)s::int[])[1 + (g * 13) %% %(owner_count)s] END",
        "first_attempt_at": f"CASE WHEN {is_open} THEN NULL "
        f"ELSE {received} + interval '30 minutes' END",
        "last_attempt_at": f"CASE WHEN {is_open} THEN NULL "
        f"ELSE {received} + interval '30 minutes' + (g %% 3) * interval '1 day' END",
        "processed_at": f"{received} + interval '1 second'",
        "created_at": received,
        "updated_at": received,
    }
    columns, values, defaults = insert_select_parts(connection, Lead, varying)
    empty = not Lead.objects.exists()
    # Building the indexes once over the loaded rows is several times faster than updating
    # them row by row (only into an empty table: another benchmark's leads may share it).
    indexes = _plain_indexes(cursor, "leads_lead") if empty else []
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    owners = [*ctx.reps, ctx.page_small, ctx.page_rep]
    cursor.execute(
        f"INSERT INTO leads_lead ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, %(leads)s) AS g",
        {
            **defaults,
            "load_at": ctx.load_at,
            "leads": args.leads,
            "spacing": spacing,
            "first_open": ctx.first_open_g,
            "sources": ctx.sources,
            "first": FIRST_NAMES,
            "last": LAST_NAMES,
            "streets": STREETS,
            "cities": [p[0] for p in ctx.places],
            "states": [p[1] for p in ctx.places],
            "zips": [p[2] for p in ctx.places],
            "zones": [p[3] for p in ctx.places],
            "areas": [p[4] for p in ctx.places],
            "area_zones": [json.dumps(list(p[5])) for p in ctx.places],
            "mismatch": [p[3] not in p[5] for p in ctx.places],
            "products": PRODUCTS,
            "closed": CLOSED_STATUSES,
            "owners": owners,
            "owner_count": len(owners),
        },
    )
    # The foreign keys are checked at commit: now, since no index is built on pending checks.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for _, definition in indexes:
        cursor.execute(definition)
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


CONSENT_TEXT = (
    f"By clicking Submit I agree that {SELLER} may call and text me about my quote, including "
    "by automated means. Consent is not a condition of purchase."
)


def _load_consents(cursor, ctx: Context) -> None:
    """One consent per lead, naming this business, for calls and texts."""
    from django.db import connection

    from compliance.models import ConsentRecord

    varying = {
        "lead_id": "l.id",
        "channels": '\'["call", "sms"]\'::jsonb',
        "seller_names": "%(sellers)s::jsonb",
        "disclosure_text": "%(text)s",
        "disclosure_sha256": "%(digest)s",
        "captured_at": "l.received_at - interval '1 minute'",
        "ip_address": "'203.0.113.7'",
        "user_agent": "'Mozilla/5.0'",
        "page_url": "'https://quotes.example.com/solar'",
        "capture_method": "'web_form'",
        "created_at": "l.received_at",
    }
    columns, values, defaults = insert_select_parts(connection, ConsentRecord, varying)
    cursor.execute(
        f"INSERT INTO {ConsentRecord._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM leads_lead l WHERE l.id IN ({_own_leads_sql(ctx)})",
        {
            **defaults,
            "sellers": json.dumps([SELLER]),
            "text": CONSENT_TEXT,
            "digest": hashlib.sha256(CONSENT_TEXT.encode()).hexdigest(),
        },
    )


def _load_closed_attempts(cursor, ctx: Context) -> None:
    """The closed leads' calls (one to three, the last one closing them) and the opt-outs of
    those that asked not to be contacted."""
    from django.db import connection

    from compliance.models import Suppression
    from leads.models import ContactAttempt
    from leads.models.lead import OPEN_STATUSES

    started = "l.received_at + interval '30 minutes' + (k - 1) * interval '1 day'"
    calls = "(1 + substr(l.source_lead_id, 3)::int %% 3)"  # as the leads' last_attempt_at
    last = "CASE l.status " + " ".join(f"WHEN '{s}' THEN '{d}'" for s, d in LAST_SALE.items())
    varying = {
        "lead_id": "l.id",
        "channel": "'call'",
        "direction": "'outbound'",
        "rep_id": "l.owner_id",
        "started_at": started,
        "ended_at": f"{started} + interval '2 minutes'",
        "duration_seconds": "120",
        "disposition": f"CASE WHEN k = {calls} THEN {last} END ELSE 'no_answer' END",
        "created_at": started,
    }
    columns, values, defaults = insert_select_parts(connection, ContactAttempt, varying)
    open_list = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    cursor.execute(
        f"INSERT INTO {ContactAttempt._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM leads_lead l, generate_series(1, {calls}) k "
        f"WHERE l.id IN ({_own_leads_sql(ctx)}) AND l.status NOT IN ({open_list})",
        defaults,
    )
    varying = {
        "phone": "l.phone",
        "channel_scope": "'all'",
        "origin": "'rep'",
        "reason": "'Asked not to be contacted'",
        "received_at": "l.last_attempt_at",
        "lead_id": "l.id",
        "recorded_by_id": "l.owner_id",
        "created_at": "l.last_attempt_at",
    }
    columns, values, defaults = insert_select_parts(connection, Suppression, varying)
    cursor.execute(
        f"INSERT INTO {Suppression._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM leads_lead l "
        f"WHERE l.id IN ({_own_leads_sql(ctx)}) AND l.status = 'do_not_contact'",
        defaults,
    )


def _open_leads(cursor, ctx: Context) -> list[tuple]:
    """(id, number, received_at, score, ZIP, phone, source) of the open leads, by number."""
    cursor.execute(
        "SELECT id, substr(source_lead_id, 3)::int AS g, received_at, score, zip_code, phone, "
        "source_id "
        f"FROM leads_lead WHERE id IN ({_own_leads_sql(ctx)}) "
        "AND substr(source_lead_id, 3)::int >= %s ORDER BY g",
        [ctx.first_open_g],
    )
    return cursor.fetchall()


def _history_position(position: int) -> bool:
    return PAGE_SMALL_ROWS <= position < PAGE_SMALL_ROWS + len(HISTORIES)


def open_plan(g: int, received_at: datetime.datetime, ctx: Context) -> OpenPlan:
    """Draw what open lead number g is: the same for every run of this data set."""
    rng = random.Random(SEED * 1_000_003 + g)
    position = g - ctx.first_open_g
    age = ctx.load_at - received_at
    history = list(HISTORIES)[position - PAGE_SMALL_ROWS] if _history_position(position) else ""
    special = bool(history)
    chance = 0.85 if age < datetime.timedelta(days=1) else 0.3 if age.days < 7 else 0.06
    never = not special and (age < NO_RECENT_CALLS * 1.1 or rng.random() < chance)
    if position < PAGE_SMALL_ROWS:
        owner = ctx.page_small
    elif position < PAGE_SMALL_ROWS + ctx.page_rep_leads:
        owner = ctx.page_rep
    elif rng.random() < (POOL_SHARE_NEVER_CALLED if never else POOL_SHARE_CALLED):
        owner = None
    else:
        owner = ctx.reps[int(len(ctx.reps) * rng.random() ** 1.5)]  # some reps hold more
    if never:
        return OpenPlan(owner, "new", [], None, not special and rng.random() < BLOCKED_SHARE)
    calls = HISTORIES[history][0] if special else 1
    if not special:
        calls = rng.choices([1, 2, 3, 4], [40, 30, 20, 10])[0]
    first = received_at + datetime.timedelta(minutes=rng.randint(2, 120))
    last = ctx.load_at - NO_RECENT_CALLS
    times = sorted(first + (last - first) * rng.random() for _ in range(calls - 1))
    status = rng.choices(["working", "contacted", "appointment"], [65, 25, 10])[0]
    callback = None
    if owner is not None and not special and rng.random() < CALLBACK_SHARE:
        if rng.random() < CALLBACK_DUE_SHARE:
            callback = -datetime.timedelta(minutes=rng.randint(1, 120))
        else:
            callback = datetime.timedelta(minutes=rng.randint(10, 72 * 60))
        status = "contacted"
    final = {"working": rng.choice(["no_answer", "voicemail", "busy"]), "contacted": "contacted",
             "appointment": "appointment_set"}[status]  # fmt: skip
    if callback is not None:
        final = "callback_requested"
    attempts = [(first, "no_answer")] if calls > 1 else []
    attempts += [(when, rng.choice(["no_answer", "voicemail", "busy"])) for when in times[:-1]]
    attempts.append((times[-1] if times else first, final))
    blocked = not special and rng.random() < BLOCKED_SHARE
    # The gate reads every opt-out as barring all marketing, an email-only one too.
    blocked = blocked or (special and HISTORIES[history][3] > 0)
    return OpenPlan(owner, status, attempts, callback, blocked)


def _load_open_history(cursor, args, ctx: Context) -> None:
    """The open leads' past calls and opt-outs, and the long history's texts and emails."""
    from compliance.models import Suppression
    from leads.models import ContactAttempt

    attempts, suppressions = [], []
    leads = _open_leads(cursor, ctx)
    for lead_id, g, received_at, _, _, phone, _ in leads:
        plan = open_plan(g, received_at, ctx)
        for started_at, disposition in plan.attempts:
            attempts.append(
                ContactAttempt(
                    lead_id=lead_id, channel="call",
                    rep_id=plan.owner or ctx.reps[g % len(ctx.reps)],
                    started_at=started_at, ended_at=started_at + datetime.timedelta(minutes=3),
                    duration_seconds=180, disposition=disposition, created_at=started_at,
                )
            )  # fmt: skip
        if plan.blocked:
            opted_out = ctx.load_at - datetime.timedelta(days=1)
            suppressions.append(
                Suppression(phone=phone, channel_scope="all", origin="sms_keyword",
                            reason="STOP", received_at=opted_out, lead_id=lead_id)
            )  # fmt: skip
    ContactAttempt.objects.bulk_create(attempts, batch_size=5000)
    Suppression.objects.bulk_create(suppressions, batch_size=5000)
    for (_, texts, consents, opt_outs), lead in zip(
        HISTORIES.values(), leads[PAGE_SMALL_ROWS:], strict=False
    ):
        _history_add(lead, texts, consents, opt_outs, ctx)


def _history_add(lead: tuple, texts: int, consents: int, opt_outs: int, ctx: Context) -> None:
    """A history's texts and emails, consents given again, and opt-outs a rep recorded."""
    from compliance.models import ConsentRecord, Suppression
    from leads.models import Touch

    lead_id, g, received_at, _, _, phone, _ = lead
    span = ctx.load_at - NO_RECENT_CALLS - received_at
    Touch.objects.bulk_create(
        Touch(
            lead_id=lead_id, channel="sms" if n % 3 else "email", automated=n % 2 == 0,
            subject="" if n % 3 else f"Your quote, part {n}", body=f"Message {n} about the quote.",
            due_at=received_at + span * (n / texts), status="sent",
            sent_at=received_at + span * (n / texts), created_by_id=ctx.page_rep,
        )
        for n in range(texts)
    )  # fmt: skip
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            lead_id=lead_id, channels=["call", "sms"], seller_names=[SELLER],
            disclosure_text=CONSENT_TEXT, captured_at=received_at + span * (n / (consents + 1)),
            capture_method="phone_recording",
        )
        for n in range(1, consents + 1)
    )  # fmt: skip
    # An email opt-out, then one of texts: calls stay allowed.
    Suppression.objects.bulk_create(
        Suppression(
            lead_id=lead_id, recorded_by_id=ctx.page_rep, origin="rep",
            received_at=received_at + span * (0.5 + n / 4),
            **({"email": f"q{g}@example.com", "channel_scope": "email",
                "reason": "Asked for no more email"} if n == 0 else
               {"phone": phone, "channel_scope": "sms", "reason": "Asked for no texts"}),
        )
        for n in range(opt_outs)
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Every run: the queue as the app would store it at the run's instant.


@dataclass(frozen=True)
class Window:
    callable_at: datetime.datetime | None
    callable_until: datetime.datetime | None


def _place_rules(place: tuple) -> tuple[frozenset, frozenset]:
    """The zones and states the gate reads for a lead of this place."""
    from compliance.gate import candidate_places
    from leads.models import Lead

    _, state, zip_code, zone, area, area_zones = place
    lead = Lead(phone=f"+1{area}2000000", zip_code=zip_code, state=state, time_zone=zone,
                area_code_time_zones=list(area_zones))  # fmt: skip
    zones, states = candidate_places(lead)
    return frozenset(zones), frozenset(states)


def window_at(rules: tuple[frozenset, frozenset], at: datetime.datetime) -> Window:
    """The calling window the gate gives a lead of these zones and states from `at`: the
    hours rules only (the leads' consents name the business and no cap is near)."""
    from compliance.hours import hours_check, hours_open_until

    zones, states = rules
    check = hours_check(zones=zones, states=states, at=at, channel="call")
    opens = at if check.allowed else check.next_allowed_at
    if opens is None:
        return Window(None, None)
    return Window(opens, hours_open_until(zones=zones, states=states, at=opens, channel="call"))


def callable_places(ctx: Context, at: datetime.datetime, lasting: datetime.timedelta) -> int:
    """How many places may be called from `at` for `lasting`."""
    count = 0
    for place in ctx.places:
        window = window_at(_place_rules(place), at)
        count += bool(
            window.callable_at == at and (window.callable_until or at + lasting) >= at + lasting
        )
    return count


def reset(ctx: Context, now: datetime.datetime) -> dict[str, int]:
    """Delete what earlier runs wrote and set every open lead's queue for `now`; return
    counts of what the queue holds."""
    from django.db import connection, transaction

    from leads.models import Lead, LeadSource, Touch
    from leads.workspace.queue import lead_standing
    from leads.workspace.sla import sla_stage_due

    started = time.perf_counter()
    rules = {place[2]: _place_rules(place) for place in ctx.places}
    windows = {zip_code: window_at(rule, now) for zip_code, rule in rules.items()}
    rows, touches = [], []
    counts = Counter()
    sources = LeadSource.objects.in_bulk(ctx.sources)
    with transaction.atomic(), connection.cursor() as cursor:
        _delete_rows(cursor, ctx, since_load=True)
        leads = _open_leads(cursor, ctx)
        ctx.history_leads = {
            name: lead[0] for name, lead in zip(HISTORIES, leads[PAGE_SMALL_ROWS:], strict=False)
        }
        for lead_id, g, received_at, score, zip_code, _, source_id in leads:
            plan = open_plan(g, received_at, ctx)
            first = plan.attempts[0][0] if plan.attempts else None
            last = plan.attempts[-1][0] if plan.attempts else None
            due = now + plan.callback_offset if plan.callback_offset is not None else None
            if plan.blocked:
                window = Window(None, None)
            elif due is not None:
                window = window_at(rules[zip_code], max(now, due))
            else:
                window = windows[zip_code]
            sla_due = None
            if first is None and window.callable_at is not None:
                opened = received_at if window.callable_at <= now else window.callable_at
                sla_due = opened + datetime.timedelta(minutes=5)
            lead = Lead(source=sources[source_id], first_attempt_at=first, last_attempt_at=last,
                        sla_due_at=sla_due, score=score, received_at=received_at)  # fmt: skip
            # The steps of escalation the clock has taken by now (it runs every tick).
            lead.sla_stage = sla_stage_due(lead=lead, now=now) if sla_due else 0
            standing = lead_standing(lead=lead, at=now, call_due_at=due, callback=due is not None)
            rows.append((lead_id, plan.owner, plan.status, first, last, sla_due, lead.sla_stage,
                         standing.priority, standing.queue_at, window.callable_at,
                         window.callable_until))  # fmt: skip
            if due is not None:
                touches.append(
                    Touch(lead_id=lead_id, channel="call", automated=False, due_at=due,
                          body="Callback requested.", created_by_id=plan.owner)
                )  # fmt: skip
            now_ok = window.callable_at is not None and window.callable_at <= now
            counts["open"] += 1
            counts["pool"] += plan.owner is None
            counts["callable now"] += now_ok
            counts["callable now, in the pool"] += now_ok and plan.owner is None
            counts["callbacks"] += due is not None
            counts["callbacks due"] += due is not None and due <= now
            counts["never called"] += first is None
            counts["no window (opted out)"] += plan.blocked
        cursor.execute(
            "CREATE TEMP TABLE bench_queue_reset (id bigint PRIMARY KEY, owner_id int, "
            "status text, first_attempt_at timestamptz, last_attempt_at timestamptz, "
            "sla_due_at timestamptz, sla_stage int, priority int, queue_at timestamptz, "
            "callable_at timestamptz, callable_until timestamptz) ON COMMIT DROP"
        )
        with cursor.copy("COPY bench_queue_reset FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "UPDATE leads_lead l SET owner_id = r.owner_id, status = r.status, "
            "first_attempt_at = r.first_attempt_at, last_attempt_at = r.last_attempt_at, "
            "sla_due_at = r.sla_due_at, sla_stage = r.sla_stage, priority = r.priority, "
            "queue_at = r.queue_at, callable_at = r.callable_at, "
            "callable_until = r.callable_until FROM bench_queue_reset r WHERE l.id = r.id"
        )
        Touch.objects.bulk_create(touches, batch_size=5000)
    tables = {"leads_lead", *(model._meta.db_table for model, _ in _referring_models())}
    with connection.cursor() as cursor:
        # Autovacuum may be off (it is on CI servers): the statistics and the visibility map
        # of every run start the same.
        cursor.execute(f"VACUUM ANALYZE {', '.join(sorted(tables))}")
    print(f"queue set for {now:%a %H:%M} UTC in {time.perf_counter() - started:.0f} s", flush=True)
    return counts


def gate_agrees(ctx: Context, now: datetime.datetime, sample: int = 500) -> tuple[int, int]:
    """Ask the gate about a sample of open leads with no callback pending (a callback holds
    its lead back until its time, whatever the hours); return (agreeing, asked): whether it
    allows a call now matches the stored window."""
    from compliance.gate import decide_many
    from leads.models import Lead
    from leads.models.lead import OPEN_STATUSES

    leads = list(
        Lead.objects.filter(source_id__in=ctx.sources, status__in=OPEN_STATUSES)
        .exclude(touches__channel="call", touches__status="scheduled")
        .order_by("?")[:sample]
    )
    decisions = decide_many([(lead, "call", now) for lead in leads], automated=False)
    agree = 0
    for lead, decision in zip(leads, decisions, strict=True):
        stored = (
            lead.callable_at is not None
            and lead.callable_at <= now
            and (lead.callable_until is None or lead.callable_until > now)
        )
        agree += stored == decision.allowed
    return agree, len(leads)


# ---------------------------------------------------------------------------------------------
# Reps pressing "next lead": processes of their own, each on its own connection.


def bare_sql() -> str:
    from leads.models.lead import OPEN_STATUSES

    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    return (
        "SELECT id FROM leads_lead WHERE (owner_id = %(rep)s OR owner_id IS NULL) "
        "AND (callable_until IS NULL OR callable_until > %(at)s) "
        f"AND status IN ({statuses}) AND callable_at IS NOT NULL AND callable_at <= %(at)s "
        "ORDER BY priority DESC, queue_at ASC LIMIT 1 FOR UPDATE SKIP LOCKED"
    )


class Press(NamedTuple):
    rep: int
    at: float  # seconds since the phase began
    lag_ms: float  # how late it started against its planned instant
    ms: float  # the claim (or the bare query)
    after_ms: float | None  # call_start, or the bare UPDATE that marks the lead taken
    lead: int | None
    owner_ok: bool | None  # the claimed lead was the rep's when the claim returned it
    called: bool | None
    cpu_ms: float | None = None  # the claim's own CPU time in its process (Python, not SQL)
    after_cpu_ms: float | None = None  # call_start's


def _press(mode: str, rep, sql: str) -> tuple:
    from django.db import connection, transaction
    from django.utils import timezone

    from leads.workspace.calls import call_start
    from leads.workspace.queue import ATTEMPTED, lead_claim_next

    started, cpu = time.perf_counter(), time.process_time()
    if mode == "bare":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, {"rep": rep.pk, "at": timezone.now()})
            row = cursor.fetchone()
        return (time.perf_counter() - started) * 1000, None, row[0] if row else None, None, None
    lead = lead_claim_next(rep_user=rep)
    claim_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    if lead is None:
        return claim_ms, None, None, None, None, cpu_ms
    owner_ok = lead.owner_id == rep.pk
    started, cpu = time.perf_counter(), time.process_time()
    called = None
    if mode == "claim":
        _, attempt = call_start(lead=lead, rep=rep)
        called = attempt is not None
    else:  # "move": only what a call does to the lead's place in the queue, in one UPDATE
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE leads_lead SET priority = %(band)s, queue_at = %(now)s, "
                "last_attempt_at = %(now)s, first_attempt_at = coalesce(first_attempt_at, "
                "%(now)s), sla_due_at = NULL WHERE id = %(id)s",
                {"band": ATTEMPTED, "now": now, "id": lead.pk},
            )
    after_ms, after_cpu_ms = (
        (time.perf_counter() - started) * 1000,
        (time.process_time() - cpu) * 1000,
    )
    return claim_ms, after_ms, lead.pk, owner_ok, called, cpu_ms, after_cpu_ms


def warm_up(mode: str, rep) -> None:
    """Press once and undo it: a new process's first claim pays for what is loaded lazily
    (imports, caches, the pages fork shares until written), a cost no rep pays twice."""
    from django.db import transaction

    with transaction.atomic():
        _press(mode, rep, bare_sql())
        transaction.set_rollback(True)


def _rep_presses(rep_id, mode, seconds, mean_gap, seed, ready, results) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connections

    try:
        rep = get_user_model().objects.get(pk=rep_id)
        warm_up(mode, rep)
        ready.wait(timeout=600)  # every rep warmed up: all start together
        start_at = time.time() + 0.2
        sql, rng, presses = bare_sql(), random.Random(seed), []
        deadline = start_at + seconds
        planned = start_at + (rng.expovariate(1 / mean_gap) if mean_gap else 0)
        while planned < deadline and (mean_gap or time.time() < deadline):
            time.sleep(max(0.0, planned - time.time()))
            began = time.time()
            outcome = _press(mode, rep, sql)
            presses.append(Press(rep_id, began - start_at, max(0.0, began - planned) * 1000,
                                 *outcome))  # fmt: skip
            planned = planned + rng.expovariate(1 / mean_gap) if mean_gap else time.time()
        results.put(("ok", presses))
    except BaseException:
        ready.abort()
        results.put(("error", traceback.format_exc()))
    finally:
        connections.close_all()


def run_presses(mode: str, reps: list[int], seconds: float, rate: float | None) -> list[Press]:
    """Every rep presses for `seconds`: `rate` presses a second in all, at random, or (None)
    each again as soon as the last answered."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    warm_up(mode, get_user_model().objects.get(pk=reps[0]))  # what every process inherits
    connections.close_all()  # each process opens its own
    gc.freeze()  # the collector leaves the inherited objects, and their pages, alone
    context = multiprocessing.get_context("fork")
    results, ready = context.SimpleQueue(), context.Barrier(len(reps) + 1)
    mean_gap = len(reps) / rate if rate else 0
    processes = [
        context.Process(
            target=_rep_presses,
            args=(rep, mode, seconds, mean_gap, SEED + n, ready, results),
            daemon=True,
        )
        for n, rep in enumerate(reps)
    ]
    for process in processes:
        process.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(timeout=600)
    presses, errors = [], []
    for _ in processes:
        status, payload = results.get()
        (presses.extend if status == "ok" else errors.append)(payload)
    for process in processes:
        process.join()
    if errors:
        sys.exit(f"a rep's process failed:\n{errors[0]}")
    return presses


# ---------------------------------------------------------------------------------------------
# HTTP: gunicorn serving Leadline, with a bare page beside its own.

BARE_PATH = "/bench/bare/"


def bench_urlconf():
    """Leadline's URLs and the bare page, as a urlconf object."""
    from django.contrib.auth.decorators import login_required
    from django.http import HttpResponse
    from django.template import engines
    from django.urls import include, path

    template = engines["django"].from_string(
        '{% extends "base.html" %}{% block content %}<h1>Bare page</h1>{% endblock %}'
    )

    @login_required
    def bare_page(request):
        return HttpResponse(template.render({}, request))

    patterns = [path(BARE_PATH.lstrip("/"), bare_page), path("", include("crm.urls"))]
    return type("BenchQueueUrls", (), {"urlpatterns": patterns})


def application():
    """gunicorn 'bench.queue:application()': Leadline's WSGI app with the bare page added
    and static files named as in development (the benchmark runs no collectstatic)."""
    from django.conf import settings

    from crm.wsgi import application as leadline

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.ROOT_URLCONF = bench_urlconf()
    return leadline


def _gunicorn(workers: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "bench.queue:application()",
         "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers), "--log-level", "warning",
         "--preload"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    for _ in range(150):
        try:
            status, _, _ = _http("GET", "/healthz")
            if status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    sys.exit("gunicorn did not start")


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _http(method: str, path: str, cookie: str = "", csrf: str = "") -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    headers = {"Cookie": cookie} if cookie else {}
    if method == "POST":
        headers.update({"X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        connection.request(method, path, body=b"" if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        body = response.read()
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        return response.status, {"location": response.getheader("Location", ""),
                                 "cookies": cookies}, body  # fmt: skip
    finally:
        connection.close()


@dataclass
class Session:
    cookie: str
    csrf: str


def http_session(user) -> Session:
    """Log the user in (a session in the database, as a login makes), and get the CSRF
    cookie the way a browser does: from the first page."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    session = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    status, headers, _ = _http("GET", "/leads/", session)
    if status != 200:
        sys.exit(f"GET /leads/ answered {status} for {user}")
    token = headers["cookies"].get(settings.CSRF_COOKIE_NAME)
    if token is None:
        sys.exit("the queue page set no CSRF cookie")
    return Session(f"{session}; {settings.CSRF_COOKIE_NAME}={token.value}", token.value)


LEAD_PATH = re.compile(r"/leads/(\d+)/$")


def _http_press(session: Session) -> tuple:
    started = time.perf_counter()
    status, headers, _ = _http("POST", "/leads/next/", session.cookie, session.csrf)
    claim_ms = (time.perf_counter() - started) * 1000
    if status != 302:
        raise RuntimeError(f"POST /leads/next/ answered {status}")
    found = LEAD_PATH.search(headers["location"])
    if found is None:
        return claim_ms, None, None, None, None
    lead_id = int(found.group(1))
    started = time.perf_counter()
    status, headers, _ = _http("POST", f"/leads/{lead_id}/call/", session.cookie, session.csrf)
    if status != 302:
        raise RuntimeError(f"POST /leads/{lead_id}/call/ answered {status}")
    return claim_ms, (time.perf_counter() - started) * 1000, lead_id, None, None


def run_http_presses(sessions: dict[int, Session], seconds: float, rate: float) -> list[Press]:
    """The reps press "next lead" in the browser: a thread each, `rate` presses a second."""
    mean_gap = len(sessions) / rate
    start_at = time.time() + 0.5
    presses, errors = [], []

    def rep_loop(rep_id: int, session: Session, seed: int) -> None:
        rng = random.Random(seed)
        planned = start_at + rng.expovariate(1 / mean_gap)
        try:
            while planned < start_at + seconds:
                time.sleep(max(0.0, planned - time.time()))
                began = time.time()
                outcome = _http_press(session)
                presses.append(Press(rep_id, began - start_at, max(0.0, began - planned) * 1000,
                                     *outcome))  # fmt: skip
                planned += rng.expovariate(1 / mean_gap)
        except Exception:
            errors.append(traceback.format_exc())

    threads = [
        threading.Thread(target=rep_loop, args=(rep_id, session, SEED + n))
        for n, (rep_id, session) in enumerate(sessions.items())
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"  {len(errors)} reps stopped on an error; the first:\n{errors[0]}")
    return presses


def time_pages(session: Session, pages: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """GET each page in turn, `rounds` times, one at a time; milliseconds to the last byte."""
    timings = {label: [] for label in pages}
    for warm_up in (True, False):
        for _ in range(3 if warm_up else rounds):
            for label, path in pages.items():
                started = time.perf_counter()
                status, _, _ = _http("GET", path, session.cookie)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}")
                if not warm_up:
                    timings[label].append((time.perf_counter() - started) * 1000)
    return timings


# ---------------------------------------------------------------------------------------------
# SQL statements, in-process.


def _shape(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    return re.sub(r"\b\d+(\.\d+)?\b", "?", sql)


def count_statements(user, path: str) -> tuple[int, Counter]:
    """Return how many SQL statements a GET of `path` runs, and how often each shape."""
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    with override_settings(ROOT_URLCONF=bench_urlconf()):
        client = Client()
        client.force_login(user)
        client.get(path)  # the session's and the caches' first reads
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    shapes = Counter(_shape(query["sql"]) for query in queries.captured_queries)
    return len(queries.captured_queries), shapes


def claim_statements(rep) -> list[tuple[str, float]]:
    """Claim once in-process; return each SQL statement the claim ran (its parameters bound)
    and its milliseconds, and undo the claim."""
    from django.db import connection, transaction

    from leads.workspace.queue import lead_claim_next

    statements = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - started) * 1000
            # The claim's own transaction is a savepoint inside this one: not a statement
            # the claim runs on its own.
            if not re.match(r"\s*(SAVEPOINT|RELEASE SAVEPOINT)", sql):
                statements.append((connection.ops.compose_sql(sql, params), ms))

    with transaction.atomic(), connection.execute_wrapper(timed):
        lead_claim_next(rep_user=rep)
        transaction.set_rollback(True)
    return statements


def explain(sql: str) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


# ---------------------------------------------------------------------------------------------
# Figures.


def _calls(count: int) -> str:
    return f"{count} call{'s' if count != 1 else ''}"


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(label: str, values: list[float]) -> str:
    return (
        f"  {label:<44} n={len(values):>6,}  p50 {pct(values, 50):7.2f}  p90 {pct(values, 90):7.2f}"
        f"  p99 {pct(values, 99):7.2f}  max {max(values, default=float('nan')):7.1f} ms"
    )


@dataclass
class Table:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, value: str, baseline: str = "", target: str = "") -> None:
        self.rows.append((figure, value, baseline, target))

    def print(self) -> None:
        header = ("figure", "value", "baseline", "target")
        widths = [max(len(row[n]) for row in [header, *self.rows]) for n in range(4)]
        for row in [header, *self.rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def verdict(value: float, limit: float) -> str:
    return "meets" if value < limit else "MISSES"


def double_claims(presses: list[Press], ctx: Context) -> dict:
    """Check every claim: one rep per lead, one claim assignment per lead, owned by its
    claimer now."""
    from django.db.models import Count

    from leads.models import AssignmentReason, Lead, LeadAssignment

    reps_of = defaultdict(set)
    for press in presses:
        if press.lead is not None:
            reps_of[press.lead].add(press.rep)
    claimed = list(reps_of)
    assignments = LeadAssignment.objects.filter(
        reason=AssignmentReason.CLAIM, lead_id__in=claimed,
        pk__gt=ctx.markers.get(LeadAssignment._meta.db_table, 0),
    )  # fmt: skip
    per_lead = dict(assignments.values_list("lead_id").annotate(n=Count("pk")))
    wrong_assignee = sum(
        1 for lead_id, to_rep in assignments.values_list("lead_id", "to_rep_id")
        if to_rep not in reps_of[lead_id]
    )  # fmt: skip
    owners = dict(Lead.objects.filter(pk__in=claimed).values_list("pk", "owner_id"))
    return {
        "claims": sum(press.lead is not None for press in presses),
        "leads": len(claimed),
        "double": sum(len(reps) > 1 for reps in reps_of.values()),
        "from the pool": len(per_lead),
        "assigned twice": sum(n > 1 for n in per_lead.values()),
        "assigned to another rep": wrong_assignee,
        "owned by another rep now": sum(
            1 for lead_id, reps in reps_of.items() if owners.get(lead_id) not in reps
        ),
        "not the rep's when returned": sum(press.owner_ok is False for press in presses),
        "claimed again by the same rep": sum(
            n - 1 for n in Counter((p.lead, p.rep) for p in presses if p.lead).values()
        ),
    }


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--rate", type=float, default=25.0, help="Presses a second, all reps.")
    parser.add_argument("--seconds", type=float, default=60, help="Of paced claims.")
    parser.add_argument("--bare-seconds", type=float, default=30)
    parser.add_argument("--http-seconds", type=float, default=30)
    parser.add_argument("--no-pause-seconds", type=float, default=15)
    parser.add_argument("--page-requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=5, help="gunicorn's")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the claim")
    parser.add_argument(
        "--quick", action="store_true", help="Tiny sizes in a database of their own: seconds."
    )
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK_SIZES)
    os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or (
        QUICK_DATABASE if args.quick else DEFAULT_DATABASE
    )
    if not 1000 <= args.open < args.leads:
        sys.exit("--open must be at least 1,000 and less than --leads")
    # Django's cache on Redis, as in production: call_start's rescore reads each source's
    # 90-day record from it. Without one, every rep's process (and gunicorn worker) would
    # read those aggregates itself, about a second each at a million leads.
    redis_url = os.environ.get("REDIS_URL") or (QUICK_REDIS if args.quick else DEFAULT_REDIS)
    if not _redis_reachable(redis_url):
        print(f"Redis at {redis_url} is not reachable: no cache is shared, figures are worse")
        redis_url = ""
    setup_django(SELLER_NAMES=SELLER, PYTHONWARNINGS=NO_STATIC_WARNING, REDIS_URL=redis_url)
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    reps, page_small, page_rep = _people(args.reps)
    page_rep_leads = min(PAGE_REP_LEADS, args.open // 20)
    ctx = Context(_sources(), reps, page_small, page_rep, page_rep_leads, _places())
    load(args, ctx)
    measure(args, ctx)


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def measure(args, ctx: Context) -> None:
    from django.utils import timezone

    run_for = datetime.timedelta(seconds=args.seconds * 3 + 300)
    now = timezone.now()
    traveller = None
    if callable_places(ctx, now, run_for) == 0:
        # No US place is in calling hours now (about 07:00-12:00 UTC): nothing could be
        # claimed. The benchmark's own clock moves to a weekday's 16:00 UTC instead; the
        # server's stays, so the claims over HTTP are left out.
        import time_machine

        target = (now + datetime.timedelta(days=1)).replace(hour=16, minute=0, second=0)
        while target.weekday() >= 5:
            target += datetime.timedelta(days=1)
        traveller = time_machine.travel(target, tick=True)
        traveller.start()
        now = timezone.now()
        print(f"No place may be called now: this process's clock moved to {now:%a %H:%M} UTC")
    try:
        _measure(args, ctx, now, travelled=traveller is not None)
    finally:
        if traveller is not None:
            traveller.stop()


def _measure(args, ctx: Context, now: datetime.datetime, *, travelled: bool) -> None:
    from django.contrib.auth import get_user_model

    counts = reset(ctx, now)
    agree, asked = gate_agrees(ctx, now)
    users = get_user_model().objects
    print(
        f"\nQueue benchmark, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}: {args.leads:,} leads, "
        f"{counts['open']:,} open ({counts['callable now']:,} callable now, "
        f"{counts['pool']:,} in the pool, {counts['callable now, in the pool']:,} of those "
        f"callable now), {len(ctx.reps)} reps pressing"
    )
    print(
        f"  never called {counts['never called']:,}; callbacks {counts['callbacks']:,} "
        f"({counts['callbacks due']:,} due); no window (opted out) "
        f"{counts['no window (opted out)']:,}; the gate agrees with the stored windows for "
        f"{agree} of {asked} sampled open leads"
    )
    rep = users.get(pk=ctx.reps[-1])  # holds the fewest leads: its claim reads furthest
    statements = claim_statements(rep)
    print(
        f"  one claim (in-process, undone) runs {len(statements)} SQL statements, "
        f"{sum(ms for _, ms in statements):.1f} ms waiting on them"
    )
    if args.explain:
        from django.db import connection

        for sql, ms in statements:
            print(f"    {ms:6.2f} ms  {sql[:200]}")
        select = next(sql for sql, _ in statements if "FOR UPDATE" in sql)
        print("  EXPLAIN ANALYZE, the claim's SELECT as the ORM sends it:")
        print(explain(select))
        print("  EXPLAIN ANALYZE, the bare query:")
        print(explain(connection.ops.compose_sql(bare_sql(), {"rep": rep.pk, "at": now})))

    table = Table()
    rate = args.rate
    print(
        f"\nPaced: {rate:g} presses a second in all, at random, from {len(ctx.reps)} reps "
        "(processes, one connection each, warmed up). After each claim the rep calls the lead. "
        "First only what the call does to the queue, in one UPDATE (the lead moves to the "
        "end of the called-before band): the claim's own cost on a busy floor. Then the real "
        "call_start (the gate asked and kept, the call logged, the lead rescored and moved), "
        "timed apart from the claim."
    )
    bare = run_presses("bare", ctx.reps, args.bare_seconds, rate)
    print(summary("bare SELECT ... FOR UPDATE SKIP LOCKED", [p.ms for p in bare]))
    moved = run_presses("move", ctx.reps, args.seconds, rate)
    print(summary("lead_claim_next, then the call's UPDATE", [p.ms for p in moved]))
    print(summary("  its CPU time in Python (not waiting on SQL)", [p.cpu_ms for p in moved]))
    moved_ms, bare_ms = [p.ms for p in moved], [p.ms for p in bare]
    table.add(f"claim p50, {rate:g}/s from {len(ctx.reps)} reps", f"{pct(moved_ms, 50):.2f} ms",
              f"{pct(bare_ms, 50):.2f} ms bare query")  # fmt: skip
    table.add("claim p99", f"{pct(moved_ms, 99):.2f} ms", f"{pct(bare_ms, 99):.2f} ms bare query",
              f"< 10 ms: {verdict(pct(moved_ms, 99), 10)}")  # fmt: skip
    claims = run_presses("claim", ctx.reps, args.seconds, rate)
    claimed = [p for p in claims if p.lead is not None]
    print(summary("lead_claim_next", [p.ms for p in claims]))
    print(summary("  its CPU time in Python (not waiting on SQL)", [p.cpu_ms for p in claims]))
    print(summary("call_start after it", [p.after_ms for p in claimed]))
    print(summary("  its CPU time in Python", [p.after_cpu_ms for p in claimed]))
    lag = [p.lag_ms for p in claims]
    print(
        f"  {len(claims) / args.seconds:.1f} presses/s; {len(claims) - len(claimed)} found no "
        f"lead; presses started late by p99 {pct(lag, 99):.1f} ms"
    )
    claim_ms = [p.ms for p in claims]
    table.add("claim p50 / p99, call_start after each",
              f"{pct(claim_ms, 50):.2f} / {pct(claim_ms, 99):.2f} ms")  # fmt: skip
    call_ms = [p.after_ms for p in claimed]
    table.add("call_start after a claim p50 / p99",
              f"{pct(call_ms, 50):.2f} / {pct(call_ms, 99):.2f} ms")  # fmt: skip

    all_presses = [*moved, *claims]
    env = server_env(
        SELLER_NAMES=SELLER, PYTHONWARNINGS=NO_STATIC_WARNING, REDIS_URL=os.environ["REDIS_URL"]
    )
    print(f"\ngunicorn --workers {args.workers}, the app and the bare page")
    server = _gunicorn(args.workers, env)
    try:
        sessions = {rep_id: http_session(users.get(pk=rep_id)) for rep_id in ctx.reps}
        if travelled:
            print("  claims over HTTP left out: the server's clock is the real one")
        else:
            for session in list(sessions.values())[: 2 * args.workers]:
                _http_press(session)  # each worker's first claim and call, untimed
            http_presses = run_http_presses(sessions, args.http_seconds, rate)
            http_claimed = [p for p in http_presses if p.lead is not None]
            print(summary("POST /leads/next/", [p.ms for p in http_presses]))
            print(summary("POST /leads/<id>/call/ after it", [p.after_ms for p in http_claimed]))
            all_presses += http_presses
            http_ms = [p.ms for p in http_presses]
            table.add("claim over HTTP (POST /leads/next/) p50 / p99",
                      f"{pct(http_ms, 50):.1f} / {pct(http_ms, 99):.1f} ms")  # fmt: skip
        page_session = http_session(users.get(pk=ctx.page_rep))
        pages = {
            "bare page": BARE_PATH,
            f"queue page, 50 rows of {ctx.page_rep_leads}": "/leads/",
            **{
                f"lead page, {name} history ({_calls(HISTORIES[name][0])})": f"/leads/{lead}/"
                for name, lead in ctx.history_leads.items()
                if name != "medium"
            },
        }
        print(f"Pages, one request at a time, taking turns, {args.page_requests} each")
        timings = time_pages(page_session, pages, args.page_requests)
        for label, values in timings.items():
            print(summary(label, values))
    finally:
        _stop(server)
    bare_p95 = pct(timings["bare page"], 95)
    for label, values in list(timings.items())[1:]:
        p95 = pct(values, 95)
        table.add(f"{label} p95", f"{p95:.1f} ms", f"{bare_p95:.1f} ms bare page",
                  f"< 150 ms: {verdict(p95, 150)}")  # fmt: skip

    print(
        f"\nNo pause: {len(ctx.reps)} reps pressing again as soon as answered, "
        f"{args.no_pause_seconds:g} s each"
    )
    rates = {}
    for mode, label in (
        ("bare", "bare query"),
        ("claim", "claim + call_start"),
        ("move", "claim + the call's UPDATE"),
    ):
        presses = run_presses(mode, ctx.reps, args.no_pause_seconds, None)
        rates[mode] = sum(p.lead is not None for p in presses) / args.no_pause_seconds
        print(summary(label, [p.ms for p in presses]) + f"  {rates[mode]:,.0f}/s")
        if mode != "bare":
            all_presses += presses
    table.add("claims/s, no pause, claim + call_start", f"{rates['claim']:,.0f}/s",
              f"{rates['bare']:,.0f}/s bare query")  # fmt: skip
    table.add("claims/s, no pause, claim + the call's UPDATE", f"{rates['move']:,.0f}/s",
              f"{rates['bare']:,.0f}/s bare query")  # fmt: skip

    check = double_claims(all_presses, ctx)
    clean = check["double"] == 0 and check["assigned twice"] == 0
    table.add("double claims", f"{check['double']}", "", f"0: {'meets' if clean else 'MISSES'}")
    print("\nEvery claim checked: " + ", ".join(f"{key} {value:,}" for key, value in check.items()))

    print("\nSQL statements per page view (in-process, the test client on this database)")
    small = users.get(pk=ctx.page_small)
    page = users.get(pk=ctx.page_rep)
    counted = {
        "bare page": count_statements(page, BARE_PATH),
        f"queue page, {PAGE_SMALL_ROWS} rows": count_statements(small, "/leads/"),
        "queue page, 50 rows": count_statements(page, "/leads/"),
        **{
            f"lead page, {name} history": count_statements(page, f"/leads/{lead}/")
            for name, lead in ctx.history_leads.items()
        },
    }
    for label, (statements, shapes) in counted.items():
        print(f"  {label:<28} {statements:>4} statements")
        for shape, n in shapes.most_common():
            if n > 1:
                print(f"      {n} x {shape[:150]}")
    bare_count = f"{counted['bare page'][0]} bare page"
    for label, few, many in (
        (f"queue page {PAGE_SMALL_ROWS} / 50 rows", f"queue page, {PAGE_SMALL_ROWS} rows",
         "queue page, 50 rows"),
        ("lead page short / medium / long history", "lead page, medium history",
         "lead page, long history"),
    ):  # fmt: skip
        grows = counted[many][0] > counted[few][0]
        for shape, n in (counted[many][1] - counted[few][1]).items():
            print(f"  {many}, beyond the {few}: {n} x {shape[:150]}")
        value = f"{counted[few][0]} / {counted[many][0]}"
        if few == "lead page, medium history":
            value = f"{counted['lead page, short history'][0]} (short) / {value}"
            for shape, n in (counted[few][1] - counted["lead page, short history"][1]).items():
                print(f"  {few}, beyond the short history (sections it has): {n} x {shape[:150]}")
        table.add(f"SQL statements, {label}", value, bare_count,
                  f"no growth: {'MISSES' if grows else 'meets'}")  # fmt: skip

    print(
        f"\nQueue benchmark figures ({args.leads:,} leads, {counts['open']:,} open, "
        f"{len(ctx.reps)} reps; load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})\n"
    )
    table.print()


if __name__ == "__main__":
    main()
