"""Measure the compliance gate against production-sized opt-out and Do Not Call tables.

Usage: .venv/bin/python bench/compliance.py [--suppressions 1000000] [--dnc 10000000]
           [--leads 100000] [--decisions 100000] [--single 3000] [--quick]

Needs PostgreSQL: DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test);
the benchmark creates and uses its own database on that server, BENCH_DATABASE (default
leadline_bench). --quick runs tiny sizes in a few seconds, to see that the benchmark works,
in a database of its own (leadline_bench_quick unless BENCH_DATABASE says otherwise), so it
never replaces the full-size data; its figures say nothing about the targets.

Loads, with COPY, --suppressions opt-outs (phones and emails, of every origin),
--dnc Do Not Call numbers (a current national registry copy and six state lists) and
--leads leads in real ZIPs and area codes with their consent records and outbound attempts.
A later run with the same sizes reuses what is loaded; other sizes replace it (a minute and
a half for the defaults on 2 cores). About a quarter of the leads' numbers
are on the national registry, a few percent on a state list, and a few percent opted out.

Then asks the gate about --decisions (lead, channel, instant) requests, each a random lead,
call, text or email, at an instant in one week (every local hour, a Sunday, a Saturday).
Prints the machine's load average, then:
- decide_many over all requests, as the dialer asks (automated) and as a rep dials
  (manual, where the registry applies): decisions/s;
- decide one request at a time, over --single requests: p50 and p99 milliseconds;
- beside both, the baseline: the least any gate must read. One at a time, one indexed
  lookup of the number in compliance_suppression and one in compliance_dncnumber joined to
  its list (`phone = %s`, raw SQL); in a batch, one `phone = ANY(%s)` query of each table
  per 1,000 requests. Both start from the E.164 text and decide "blocked if found";
- how many decisions were allowed, and blocked by each first reason.
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEED = 20260413
# A week with no federal holiday; instants fall in it, the registry copy is five days old.
WEEK_START = datetime.datetime(2026, 4, 13, tzinfo=datetime.UTC)
REGISTRY_DATE = datetime.date(2026, 4, 8)
SELLER = "Brightside Home Services"
SOURCE_SLUG = "bench-compliance"
STATE_LISTS = ["FL", "TX", "PA", "IN", "CO", "MO"]
STATE_LIST_SHARE = 0.08  # of --dnc; the rest is the national registry
CHANNELS = (["call", "sms", "email"], [45, 40, 15])
PRODUCTS = ["solar", "roofing", "hvac", "windows", "home_insurance"]
CHUNK = 1000
DATASET_VERSION = "v1"
QUICK_SIZES = {"suppressions": 2000, "dnc": 20_000, "leads": 500, "decisions": 500, "single": 200}
QUICK_DATABASE = "leadline_bench_quick"


class LeadSpec(NamedTuple):
    n: int
    phone: str
    owner: int  # the lead whose number this is: a few leads reuse an earlier lead's number
    email: str
    state: str
    zip_code: str
    city: str
    time_zone: str
    area_zones: tuple[str, ...]
    received_at: datetime.datetime


# Which numbers and emails the data puts on which list, by lead number.
def on_national_list(owner: int) -> bool:
    return owner % 4 == 0


def on_state_list(spec: LeadSpec) -> bool:
    return spec.state in STATE_LISTS and (spec.owner % 20 == 2 or spec.owner % 40 == 0)


def phone_opted_out(owner: int) -> bool:
    return owner % 25 == 1


def email_opted_out(n: int) -> bool:
    return n % 100 == 3


def resubscribed_to_texts(n: int) -> bool:
    return n % 500 == 1  # replied START after STOP


class Numbers:
    """US numbers in real area codes: lead n's is unique, and filler numbers never collide."""

    def __init__(self, leads: int):
        from leads.normalize import place_tables

        codes = place_tables().area_codes
        self.area_codes = sorted(code for code, (_, states) in codes.items() if states)
        self.leads = leads

    @staticmethod
    def local(index: int) -> int:
        # 7919 is prime and 8,000,000 = 2^9 * 5^6: a bijection that spreads neighbours apart.
        return 2_000_000 + index * 7919 % 8_000_000

    def lead(self, n: int, area_code: str) -> str:
        return f"+1{area_code}{self.local(n):07d}"

    def filler(self, j: int) -> str:
        count = len(self.area_codes)
        return f"+1{self.area_codes[j % count]}{self.local(self.leads + j // count):07d}"


def lead_specs(count: int) -> list[LeadSpec]:
    """Plan `count` leads, the same every run: real ZIPs, their state's area codes."""
    from leads.choices import USState
    from leads.demo import FIRST_NAMES, LAST_NAMES
    from leads.normalize import area_code_places, place_tables

    rng = random.Random(SEED)
    tables = place_tables()
    states = set(USState.values)
    zips = sorted(z for z, place in tables.zips.items() if place.state in states)
    zips = rng.sample(zips, min(len(zips), 5000))
    numbers = Numbers(count)
    state_codes: dict[str, list[str]] = {}
    for code in numbers.area_codes:
        for state in area_code_places(code)[1]:
            state_codes.setdefault(state, []).append(code)
    specs = []
    for n in range(count):
        place = tables.zips[rng.choice(zips)]
        movers = rng.random() < 0.05  # a number kept from another state
        area = rng.choice(numbers.area_codes if movers else state_codes[place.state])
        owner = n - 7 if n % 50 == 7 else n
        phone = specs[owner].phone if owner != n else numbers.lead(n, area)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{n}@example.com".lower() if rng.random() < 0.92 else ""
        received = WEEK_START - datetime.timedelta(seconds=rng.randrange(240 * 86400))
        zones = area_code_places(phone[2:5])[0]
        specs.append(
            LeadSpec(n, phone, owner, email, place.state, place.zip_code, place.city,
                     place.time_zone, zones, received)
        )  # fmt: skip
    return specs


def _line(*values) -> str:
    return "\t".join(r"\N" if value is None else str(value) for value in values) + "\n"


def _chunks(lines: Iterator[str], size: int = 20_000) -> Iterator[str]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch)


def _copy(cursor, table: str, columns: list[str], lines: Iterator[str], freeze=False) -> None:
    # FREEZE (for a table emptied in this transaction) spares a later pass over every row.
    options = " WITH (FREEZE)" if freeze else ""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{options}") as copy:
        for chunk in _chunks(lines):
            copy.write(chunk)


def _copy_rows(cursor, model, columns: list[str], lines: Iterator[str], freeze=False) -> None:
    """COPY these columns of the model's table, and its other required fields' defaults.

    COPY fills in no Django defaults: a NOT NULL field added to the model later would fail
    the load.
    """
    defaults = {
        field.column: field.get_default()
        for field in model._meta.concrete_fields
        if field.column not in columns and not field.primary_key and not field.null
        and (field.has_default() or field.empty_strings_allowed)  # a blank text field: ""
    }  # fmt: skip
    if defaults:
        tail = _line(*defaults.values())
        lines = (line[:-1] + "\t" + tail for line in lines)
    _copy(cursor, model._meta.db_table, [*columns, *defaults], lines, freeze=freeze)


def _lead_lines(specs: list[LeadSpec], source_id: int) -> Iterator[str]:
    from leads.demo import FIRST_NAMES, LAST_NAMES, STREETS

    rng = random.Random(SEED + 1)
    for spec in specs:
        mismatch = bool(spec.area_zones) and spec.time_zone not in spec.area_zones
        yield _line(
            source_id, f"GATE-{spec.n}", spec.received_at.isoformat(),
            rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), spec.phone, "unknown", spec.email,
            f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}", spec.city, spec.state,
            spec.zip_code, spec.time_zone, json.dumps(list(spec.area_zones)), mismatch,
            PRODUCTS[spec.n % len(PRODUCTS)], "{}", "[]", "25.00", True, "new",
            rng.randrange(101), spec.received_at.isoformat(), spec.received_at.isoformat(),
        )  # fmt: skip


LEAD_COLUMNS = [
    "source_id", "source_lead_id", "received_at", "first_name", "last_name", "phone",
    "phone_type", "email", "street", "city", "state", "zip_code", "time_zone",
    "area_code_time_zones", "time_zone_mismatch", "product", "extra", "quality_flags", "cost",
    "is_exclusive", "status", "score", "created_at", "updated_at",
]  # fmt: skip
CONSENT_COLUMNS = [
    "lead_id", "channels", "seller_names", "disclosure_text", "disclosure_sha256",
    "captured_at", "ip_address", "user_agent", "page_url", "trustedform_cert_url",
    "jornaya_leadid", "capture_method", "revoked_at", "revocation_means", "created_at",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "lead_id", "channel", "direction", "started_at", "disposition", "notes", "created_at",
]  # fmt: skip
SUPPRESSION_COLUMNS = [
    "phone", "email", "channel_scope", "origin", "reason", "received_at", "created_at", "lead_id",
]  # fmt: skip


def _consent_line(lead_id, captured, *, channels, sellers, text, method="web_form", revoked=None):
    digest = hashlib.sha256(text.encode()).hexdigest() if text else ""
    return _line(
        lead_id, json.dumps(channels), json.dumps(sellers), text, digest,
        captured.isoformat() if captured else None, "203.0.113.7", "Mozilla/5.0",
        "https://quotes.example.com/solar", "", "", method,
        revoked.isoformat() if revoked else None, "web" if revoked else "",
        (captured or WEEK_START).isoformat(),
    )  # fmt: skip


def _consent_lines(specs: list[LeadSpec], ids: dict[int, int]) -> Iterator[str]:
    """Most leads consented naming this business; some named others, revoked, or none."""
    rng = random.Random(SEED + 2)
    for spec in specs:
        roll, captured = rng.random(), spec.received_at
        channels = rng.choices([["call", "sms"], ["sms"], ["call"]], [70, 15, 15])[0]
        text = f"By clicking Submit I agree that {SELLER} may call and text me, "
        text += "including by automated means. Consent is not a condition of purchase."
        if roll < 0.72:
            yield _consent_line(ids[spec.n], captured, channels=channels, sellers=[SELLER],
                                text=text)  # fmt: skip
        elif roll < 0.77:
            revoked = captured + datetime.timedelta(days=rng.randrange(1, 60))
            yield _consent_line(ids[spec.n], captured, channels=channels, sellers=[SELLER],
                                text=text, revoked=revoked)  # fmt: skip
        elif roll < 0.82:
            other = "By clicking Submit I agree that Acme Solar and its partners may call me."
            yield _consent_line(ids[spec.n], captured, channels=channels,
                                sellers=["Acme Solar"], text=other)  # fmt: skip
        elif roll < 0.85:
            yield _consent_line(ids[spec.n], None, channels=channels, sellers=[SELLER], text="")
        if resubscribed_to_texts(spec.n):
            start = f'Replied "START" to {SELLER} asking for texts again.'
            yield _consent_line(ids[spec.n], WEEK_START - datetime.timedelta(hours=6),
                                channels=["sms"], sellers=[SELLER], text=start,
                                method="sms_keyword")  # fmt: skip


def _attempt_lines(specs: list[LeadSpec], ids: dict[int, int]) -> Iterator[str]:
    """A third of the leads were called or texted lately, some many times; a few bought."""
    rng = random.Random(SEED + 3)
    for spec in specs:
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 6)):
                started = WEEK_START + datetime.timedelta(seconds=rng.randrange(-2, 7) * 86400)
                started += datetime.timedelta(seconds=rng.randrange(86400))
                disposition = rng.choice(["no_answer", "voicemail", "busy", "contacted"])
                channel = rng.choice(["call", "call", "sms"])
                yield _line(ids[spec.n], channel, "outbound", started.isoformat(), disposition,
                            "", started.isoformat())  # fmt: skip
        if rng.random() < 0.04:  # a burst of tries that reaches the caps for a day
            burst = WEEK_START + datetime.timedelta(seconds=rng.randrange(7 * 86400))
            for _ in range(rng.randint(3, 7)):
                started = burst + datetime.timedelta(seconds=rng.randrange(20 * 3600))
                yield _line(ids[spec.n], "call", "outbound", started.isoformat(), "no_answer",
                            "", started.isoformat())  # fmt: skip
        if rng.random() < 0.015:
            sold = WEEK_START - datetime.timedelta(days=rng.randrange(10, 700))
            yield _line(ids[spec.n], "call", "outbound", sold.isoformat(), "sale", "",
                        sold.isoformat())  # fmt: skip


ORIGINS = (
    ["sms_keyword", "rep", "api", "manager", "dnc_list"],
    [50, 25, 12, 8, 5],
)


def _suppression_lines(specs: list[LeadSpec], ids: dict[int, int], total: int, national: int):
    """The leads' opt-outs, then other people's: numbers (some on the registry) and emails."""
    rng = random.Random(SEED + 4)
    numbers = Numbers(len(specs))
    written = 0
    for spec in specs:
        if written >= total:
            return
        when = spec.received_at + (WEEK_START - spec.received_at) * rng.random()
        if spec.owner == spec.n and phone_opted_out(spec.n):
            origin = rng.choices(*ORIGINS)[0]
            scope = "sms" if origin == "sms_keyword" else "all"
            if resubscribed_to_texts(spec.n):
                when = WEEK_START - datetime.timedelta(days=2)
            yield _line(spec.phone, "", scope, origin, "STOP", when.isoformat(),
                        when.isoformat(), ids[spec.n])  # fmt: skip
            written += 1
        if spec.email and email_opted_out(spec.n) and written < total:
            yield _line("", spec.email, "email", "email_unsubscribe", "", when.isoformat(),
                        when.isoformat(), ids[spec.n])  # fmt: skip
            written += 1
    for i in range(total - written):
        when = (WEEK_START - datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400))).isoformat()
        if i % 7 == 3:
            yield _line("", f"optout{i}@example.net", "email", "email_unsubscribe", "", when,
                        when, None)  # fmt: skip
            continue
        # A third of other people's opt-outs are numbers that are on the registry too.
        j = i * 7 % national if national and i % 3 == 0 else national + 10_000 + i
        origin = rng.choices(*ORIGINS)[0]
        yield _line(numbers.filler(j), "", "all", origin, "", when, when, None)


def _dnc_lines(specs: list[LeadSpec], lists: dict[str, tuple[int, int]]) -> Iterator[str]:
    """Each list's numbers: the leads' that are on it, then filler up to its size."""
    numbers = Numbers(len(specs))
    owners = [spec for spec in specs if spec.owner == spec.n]
    national_id, national_size = lists["national"]
    hits = [spec.phone for spec in owners if on_national_list(spec.n)][:national_size]
    yield from (f"{national_id}\t{phone}\n" for phone in hits)
    filler = national_size - len(hits)
    yield from (f"{national_id}\t{numbers.filler(j)}\n" for j in range(filler))
    start = filler  # state-only numbers follow the national filler
    for state in STATE_LISTS:
        list_id, size = lists[state]
        hits = [spec.phone for spec in owners if spec.state == state and on_state_list(spec)]
        hits = hits[:size]
        yield from (f"{list_id}\t{phone}\n" for phone in hits)
        # Most numbers on a state list are on the national registry too.
        extra = size - len(hits)
        overlap = extra * 3 // 4 if filler >= extra else 0
        yield from (f"{list_id}\t{numbers.filler(j)}\n" for j in range(overlap))
        yield from (f"{list_id}\t{numbers.filler(start + j)}\n" for j in range(extra - overlap))
        start += extra - overlap


class Dataset:
    """What is loaded, remembered in a table of the benchmark's own, so runs can reuse it."""

    def __init__(self, conn):
        self.conn = conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_compliance_dataset "
            "(part text PRIMARY KEY, fingerprint text NOT NULL)"
        )
        conn.commit()

    def matches(self, part: str, fingerprint: str, count_sql: str) -> bool:
        """Whether this part was loaded for these sizes and still holds as many rows."""
        row = self.conn.execute(
            "SELECT fingerprint FROM bench_compliance_dataset WHERE part = %s", [part]
        ).fetchone()
        return bool(row and row[0] == fingerprint and self.conn.execute(count_sql).fetchone()[0])

    def remember(self, part: str, fingerprint: str) -> None:
        self.conn.execute(
            "INSERT INTO bench_compliance_dataset VALUES (%s, %s) "
            "ON CONFLICT (part) DO UPDATE SET fingerprint = EXCLUDED.fingerprint",
            [part, fingerprint],
        )


def _without_indexes(cursor, table: str) -> list[str]:
    """Drop the table's indexes and key constraints; return the SQL that restores them.

    Building an index once over the loaded rows is several times faster than updating it for
    each of ten million rows, and foreign keys are then checked in one pass.
    """
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')",
        [table],
    )
    # Keys before foreign keys: a foreign key is checked through the other table's key.
    constraints = sorted(cursor.fetchall(), key=lambda row: "puf".index(row[2]))
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND indexrelid NOT IN "
        "(SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cursor.fetchall()
    for name, *_ in reversed(constraints):
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    restore = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
               for name, definition, _ in constraints]  # fmt: skip
    return restore[:1] + [definition for _, definition in indexes] + restore[1:]


def _timed(label: str, started: float) -> None:
    print(f"  {label} in {time.perf_counter() - started:.1f} s", flush=True)


def load(args) -> list[str]:
    """Load what this run's sizes need and is not loaded yet; return the parts loaded."""
    import psycopg

    from bench._common import bench_database_url
    from leads.models import LeadSource
    from leads.sources import source_create

    source = LeadSource.objects.filter(slug=SOURCE_SLUG).first()
    if source is None:
        source, _ = source_create(name="Bench compliance vendor", slug=SOURCE_SLUG)
    national = args.dnc - int(args.dnc * STATE_LIST_SHARE)
    fingerprints = {
        "leads": f"{DATASET_VERSION} leads={args.leads}",
        "suppressions": f"{DATASET_VERSION} leads={args.leads} rows={args.suppressions}",
        "dnc": f"{DATASET_VERSION} leads={args.leads} rows={args.dnc}",
    }
    counts = {
        "leads": f"SELECT count(*) = {args.leads} FROM leads_lead WHERE source_id = {source.pk}",
        "suppressions": f"SELECT count(*) = {args.suppressions} FROM compliance_suppression",
        "dnc": f"SELECT count(*) = {args.dnc} FROM compliance_dncnumber",
    }
    with psycopg.connect(bench_database_url()) as conn:
        dataset = Dataset(conn)
        stale = [
            part
            for part in fingerprints
            if not dataset.matches(part, fingerprints[part], counts[part])
        ]
        if "leads" in stale and "suppressions" not in stale:
            stale.append("suppressions")  # they point at the leads
        if not stale:
            return stale
        specs = lead_specs(args.leads)
        cursor = conn.cursor()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        if "suppressions" in stale:
            cursor.execute("TRUNCATE compliance_suppression")
        # Each part in a transaction of its own: a load cut short keeps the parts it finished.
        if "leads" in stale:
            _load_leads(cursor, specs, source.pk)
            dataset.remember("leads", fingerprints["leads"])
            conn.commit()
        ids = _lead_ids(cursor, source.pk)
        if "suppressions" in stale:
            _load_suppressions(cursor, specs, ids, args, national)
            dataset.remember("suppressions", fingerprints["suppressions"])
            conn.commit()
        if "dnc" in stale:
            _load_dnc(cursor, specs, args.dnc, national)
            dataset.remember("dnc", fingerprints["dnc"])
            conn.commit()
    return stale


def _lead_ids(cursor, source_id: int) -> dict[int, int]:
    """Map each planned lead's number to its id."""
    cursor.execute(
        "SELECT substr(source_lead_id, 6)::int, id FROM leads_lead WHERE source_id = %s",
        [source_id],
    )
    return dict(cursor.fetchall())


def _load_leads(cursor, specs: list[LeadSpec], source_id: int) -> None:
    from compliance.models import ConsentRecord
    from leads.models import ContactAttempt, Lead

    started = time.perf_counter()
    print(f"loading {len(specs):,} leads, their consents and attempts ...", flush=True)
    old = "SELECT id FROM leads_lead WHERE source_id = %s"
    for table in ("compliance_consentrecord", "leads_contactattempt"):
        cursor.execute(f"DELETE FROM {table} WHERE lead_id IN ({old})", [source_id])
    cursor.execute("DELETE FROM leads_lead WHERE source_id = %s", [source_id])
    _copy_rows(cursor, Lead, LEAD_COLUMNS, _lead_lines(specs, source_id))
    ids = _lead_ids(cursor, source_id)
    _copy_rows(cursor, ConsentRecord, CONSENT_COLUMNS, _consent_lines(specs, ids))
    _copy_rows(cursor, ContactAttempt, ATTEMPT_COLUMNS, _attempt_lines(specs, ids))
    for table in ("leads_lead", "compliance_consentrecord", "leads_contactattempt"):
        cursor.execute(f"ANALYZE {table}")
    _timed("leads", started)


def _load_suppressions(cursor, specs, ids, args, national: int) -> None:
    from compliance.models import Suppression

    started = time.perf_counter()
    print(f"loading {args.suppressions:,} suppressions ...", flush=True)
    cursor.execute("TRUNCATE compliance_suppression")
    restore = _without_indexes(cursor, "compliance_suppression")
    lines = _suppression_lines(specs, ids, args.suppressions, national)
    _copy_rows(cursor, Suppression, SUPPRESSION_COLUMNS, lines, freeze=True)
    _timed("COPY", started)
    for statement in restore:
        cursor.execute(statement)
    cursor.execute("ANALYZE compliance_suppression")
    _timed("suppressions with indexes", started)


def _load_dnc(cursor, specs: list[LeadSpec], total: int, national: int) -> None:
    started = time.perf_counter()
    print(f"loading {total:,} Do Not Call numbers ...", flush=True)
    cursor.execute("TRUNCATE compliance_dncnumber, compliance_dnclist RESTART IDENTITY")
    restore = _without_indexes(cursor, "compliance_dncnumber")
    per_state = (total - national) // len(STATE_LISTS)
    sizes = {"national": national, **dict.fromkeys(STATE_LISTS, per_state)}
    sizes[STATE_LISTS[-1]] += total - national - per_state * len(STATE_LISTS)
    lists = {}
    for name, size in sizes.items():
        kind, state = ("national", "") if name == "national" else ("state", name)
        list_id = cursor.execute(
            "INSERT INTO compliance_dnclist (kind, state, list_date, file_name, status, "
            "number_count, rejected_count, error, created_at, finished_at) "
            "VALUES (%s, %s, %s, %s, 'ready', %s, 0, '', now(), now()) RETURNING id",
            [kind, state, REGISTRY_DATE, f"bench-{name}.txt", size],
        ).fetchone()[0]
        lists[name] = (list_id, size)
    lines = _dnc_lines(specs, lists)
    _copy(cursor, "compliance_dncnumber", ["dnc_list_id", "phone"], lines, freeze=True)
    _timed("COPY", started)
    for statement in restore:
        cursor.execute(statement)
    cursor.execute("ANALYZE compliance_dnclist")
    cursor.execute("ANALYZE compliance_dncnumber")
    _timed("Do Not Call numbers with indexes", started)


def requests_for(leads: list, count: int, *, seed: int = SEED) -> list[tuple]:
    """Random leads, channels and instants over the week, the same every run."""
    rng = random.Random(seed)
    week = 7 * 86400
    return [
        (
            rng.choice(leads),
            rng.choices(*CHANNELS)[0],
            WEEK_START + datetime.timedelta(seconds=rng.randrange(week)),
        )
        for _ in range(count)
    ]


SUPPRESSED_SQL = "SELECT phone FROM compliance_suppression WHERE phone = ANY(%s)"
LISTED_SQL = (
    "SELECT n.phone FROM compliance_dncnumber n JOIN compliance_dnclist l "
    "ON l.id = n.dnc_list_id WHERE n.phone = ANY(%s) AND l.status = 'ready'"
)
SUPPRESSED_ONE_SQL = "SELECT EXISTS (SELECT 1 FROM compliance_suppression WHERE phone = %s)"
LISTED_ONE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM compliance_dncnumber n JOIN compliance_dnclist l "
    "ON l.id = n.dnc_list_id WHERE n.phone = %s AND l.status = 'ready')"
)


def baseline_many(phones: list[str]) -> tuple[list[bool], set[str], set[str]]:
    """Decide "blocked if on either table" with one query of each per 1,000 numbers."""
    from django.db import connection

    allowed, suppressed, listed = [], set(), set()
    with connection.cursor() as cursor:
        for start in range(0, len(phones), CHUNK):
            chunk = phones[start : start + CHUNK]
            cursor.execute(SUPPRESSED_SQL, [chunk])
            suppressed.update(phone for (phone,) in cursor.fetchall())
            cursor.execute(LISTED_SQL, [chunk])
            listed.update(phone for (phone,) in cursor.fetchall())
            allowed.extend(p not in suppressed and p not in listed for p in chunk)
    return allowed, suppressed, listed


def baseline_one(cursor, phone: str) -> bool:
    cursor.execute(SUPPRESSED_ONE_SQL, [phone])
    suppressed = cursor.fetchone()[0]
    cursor.execute(LISTED_ONE_SQL, [phone])
    return not (suppressed or cursor.fetchone()[0])


def _percentiles(milliseconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(milliseconds, n=100, method="inclusive")
    return cuts[49], cuts[98]


def measure(args, leads: list) -> None:
    from compliance.gate import decide_many

    requests = requests_for(leads, args.decisions)
    phones = [str(lead.phone) for lead, _, _ in requests]
    # Untimed: the gate's own caches, and the index pages of every requested number.
    decide_many(requests_for(leads, CHUNK, seed=SEED + 6))
    baseline_many(phones)

    started = time.perf_counter()
    allowed, suppressed, listed = baseline_many(phones)
    base_rate = len(phones) / (time.perf_counter() - started)
    rates, first_reasons = {}, {}
    for mode, automated in (("automated", True), ("manual", False)):
        started = time.perf_counter()
        decisions = decide_many(requests, automated=automated)
        rates[mode] = len(requests) / (time.perf_counter() - started)
        first_reasons[mode] = Counter(
            decision.codes[0] if decision.reasons else "allowed" for decision in decisions
        )
    gate_ms, base_ms = _single_latencies(requests[: args.single], phones)

    _print_figures(args, rates, base_rate, gate_ms, base_ms)
    hit = sum(p in suppressed for p in phones), sum(p in listed for p in phones)
    _print_reasons(first_reasons, len(requests), hit, sum(allowed))


def _single_latencies(requests: list[tuple], phones: list[str]) -> tuple[list, list]:
    """Time `decide` and the baseline on each request in turn; return both in milliseconds."""
    from django.db import connection

    from compliance.gate import decide

    gate_ms, base_ms = [], []
    with connection.cursor() as cursor:
        for (lead, channel, at), phone in zip(requests, phones, strict=False):
            started = time.perf_counter()
            baseline_one(cursor, phone)
            base_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            decide(lead, channel, at)
            gate_ms.append((time.perf_counter() - started) * 1000)
    return gate_ms, base_ms


def _print_figures(args, rates, base_rate, gate_ms, base_ms) -> None:
    print(f"\ndecide_many, {args.decisions:,} requests ({CHUNK:,} per chunk)")
    print(f"  {'':<22} {'decisions/s':>12}")
    print(f"  {'baseline':<22} {base_rate:>12,.0f}")
    for mode, rate in rates.items():
        verdict = "meets" if rate >= 5000 else "misses"
        print(f"  {'gate, ' + mode:<22} {rate:>12,.0f}   {verdict} the 5,000/s target")
    gate_p50, gate_p99 = _percentiles(gate_ms)
    base_p50, base_p99 = _percentiles(base_ms)
    print(f"\ndecide, one at a time, {len(gate_ms):,} requests (automated)")
    print(f"  {'':<22} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"  {'baseline':<22} {base_p50:>8.2f} {base_p99:>8.2f}")
    verdict = "meets" if gate_p99 < 5 else "misses"
    print(f"  {'gate':<22} {gate_p50:>8.2f} {gate_p99:>8.2f}   {verdict} the 5 ms p99 target")


def _print_reasons(first_reasons: dict[str, Counter], total: int, hit, base_allowed) -> None:
    print(f"\nfirst reason per decision (of {total:,})")
    modes = list(first_reasons)
    print(f"  {'':<24}" + "".join(f"{mode:>12}" for mode in modes))
    codes = sorted(set().union(*first_reasons.values()), key=lambda c: (c != "allowed", c))
    for code in codes:
        print(f"  {code:<24}" + "".join(f"{first_reasons[m][code]:>12,}" for m in modes))
    print(
        f"  (requested numbers opted out: {hit[0]:,}; on a Do Not Call list: {hit[1]:,}; "
        f"the baseline allowed {base_allowed:,})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppressions", type=int, default=1_000_000)
    parser.add_argument("--dnc", type=int, default=10_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=3000)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes in a database of their own"
    )
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK_SIZES)
        # Before bench._common is imported: it reads the name once.
        os.environ.setdefault("BENCH_DATABASE", QUICK_DATABASE)
    from bench._common import setup_django

    setup_django(
        SELLER_NAMES=SELLER,
        BUSINESS_POSTAL_ADDRESS="100 Biscayne Blvd, Miami, FL 33132",
        SITE_URL="https://crm.example.com",
    )
    from django.core.management import call_command

    from leads.models import Lead

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if loaded := load(args):
        print(f"loaded {', '.join(loaded)} in {time.perf_counter() - started:.0f} s", flush=True)
    leads = list(Lead.objects.filter(source__slug=SOURCE_SLUG).order_by("pk"))
    print(
        f"Compliance gate benchmark, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}: {len(leads):,} leads, "
        f"{args.suppressions:,} suppressions, {args.dnc:,} Do Not Call numbers"
    )
    measure(args, leads)
    print(f"\n(load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
