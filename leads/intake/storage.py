"""Store clean leads with their consent records: one INSERT statement for one lead or a thousand.

The statement takes the leads as one JSON array, finds each lead's earlier lead by phone or
email inside the duplicate window, inserts the leads (skipping source lead ids already
stored), and inserts a consent record for each inserted lead that brought one. Being one
statement, it is atomic on its own: a single lead needs no transaction and one round trip.
The column lists come from the models, so the statement follows their fields.
"""

import datetime
import json
from collections import Counter
from dataclasses import dataclass
from functools import cache

import psycopg
from django.db import connection, transaction
from django.db.models import Min
from psycopg.types.json import Jsonb

from compliance.models import CONSENT_EVIDENCE_FIELDS, ConsentRecord, disclosure_fingerprint
from leads.intake.payload import CleanConsent, CleanLead
from leads.models import Lead, LeadSource
from leads.quality import REPEAT_IP_LIMIT, REPEAT_PHONE_LIMIT, REPEAT_WINDOW, QualityFlag

# Lead fields that differ from lead to lead, taken from the clean payload.
LEAD_ROW_FIELDS = (
    "source_lead_id",
    "first_name",
    "last_name",
    "phone",
    "phone_type",
    "email",
    "street",
    "city",
    "state",
    "zip_code",
    "time_zone",
    "area_code_time_zones",
    "time_zone_mismatch",
    "product",
    "campaign",
    "language",
    "extra",
    "is_exclusive",
    "cost",
)
# Fields the same for every lead of one statement; every other field takes its default.
LEAD_SHARED_FIELDS = ("source", "received_at", "created_at", "updated_at")
# Fields the statement works out, for every lead.
LEAD_DERIVED_FIELDS = ("quality_flags", "duplicate_of")
CONSENT_SHARED_FIELDS = ("lead", "capture_method", "created_at")


@dataclass(frozen=True)
class StoredLead:
    id: int
    duplicate_of_id: int | None
    quality_flags: list[str]


def _type(field) -> str:
    # Without length limits ("varchar", not "varchar(100)"): an over-long value then fails
    # when it is assigned to the column, instead of being cut short by a cast.
    return field.db_type(connection).partition("(")[0]


def _column_definitions(model, names) -> str:
    fields = [model._meta.get_field(name) for name in names]
    return ", ".join(f"{field.column} {_type(field)}" for field in fields)


def _defaulted_fields(model, handled) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.name not in handled
    ]


def _lead_defaults() -> list:
    return _defaulted_fields(Lead, {*LEAD_ROW_FIELDS, *LEAD_SHARED_FIELDS, *LEAD_DERIVED_FIELDS})


def _consent_defaults() -> list:
    return _defaulted_fields(ConsentRecord, {*CONSENT_EVIDENCE_FIELDS, *CONSENT_SHARED_FIELDS})


def _default_placeholders(fields) -> str:
    return ", ".join(f"%(default_{field.column})s::{_type(field)}" for field in fields)


@cache
def _insert_sql() -> str:
    leads, consents = Lead._meta.db_table, ConsentRecord._meta.db_table
    lead_defaults, consent_defaults = _lead_defaults(), _consent_defaults()
    lead_columns = [Lead._meta.get_field(name).column for name in LEAD_ROW_FIELDS]
    consent_columns = [
        ConsentRecord._meta.get_field(name).column for name in CONSENT_EVIDENCE_FIELDS
    ]
    repeat_phone, repeat_ip = (
        f"'[\"{flag}\"]'::jsonb" for flag in (QualityFlag.REPEAT_PHONE, QualityFlag.REPEAT_IP)
    )
    # Every parameter has its type written out: the statement is prepared once per
    # connection, before any values are seen. `flagged` looks at the earlier leads with each
    # phone once, for duplicates and for repeats; repeats are this batch's leads plus those
    # stored in the repeat window (IPs counted only as far as the limit, so a busy IP costs
    # no more than a quiet one). The plan is made once for every lead, so it must suit a new
    # IP as well as a busy one: the IPs' ORDER BY matches their index (without it the plan
    # may read consents in table order, a scan of the whole table for a new IP), and the
    # limits are written in, which keeps the plan's estimated cost honest (an unknown LIMIT
    # made it look costly enough for PostgreSQL to JIT-compile it on every call).
    return _one_line(f"""
WITH incoming AS (
    SELECT i.*, (i.consent->>'ip_address')::inet AS ip,
        count(*) OVER (PARTITION BY i.phone) AS phone_hits,
        count(*) OVER (PARTITION BY i.consent->>'ip_address') AS ip_hits
    FROM jsonb_to_recordset(%(leads)s::jsonb) AS i(
        position integer, {_column_definitions(Lead, LEAD_ROW_FIELDS)},
        quality_flags jsonb, consent jsonb)
),
flagged AS (
    SELECT i.*, same_phone.first_id AS first_by_phone,
        i.phone_hits + same_phone.recent > {int(REPEAT_PHONE_LIMIT)} AS repeat_phone,
        i.ip IS NOT NULL AND i.ip_hits + (SELECT count(*) FROM (
            SELECT FROM {consents} r
            WHERE r.ip_address = i.ip AND r.created_at >= %(repeats_since)s::timestamptz
            ORDER BY r.created_at DESC LIMIT {int(REPEAT_IP_LIMIT)}) stored
        ) > {int(REPEAT_IP_LIMIT)} AS repeat_ip
    FROM incoming i
    CROSS JOIN LATERAL (
        SELECT min(earlier.id) FILTER (WHERE earlier.received_at >= %(since)s::timestamptz)
                AS first_id,
            count(*) FILTER (WHERE earlier.received_at >= %(repeats_since)s::timestamptz)
                AS recent
        FROM {leads} earlier
        WHERE earlier.phone = i.phone AND earlier.received_at
            >= least(%(since)s::timestamptz, %(repeats_since)s::timestamptz)
    ) same_phone
),
inserted AS (
    INSERT INTO {leads} (
        source_id, received_at, created_at, updated_at,
        {", ".join(field.column for field in lead_defaults)},
        {", ".join(lead_columns)}, quality_flags, duplicate_of_id)
    SELECT
        %(source_id)s::bigint, %(now)s::timestamptz, %(now)s::timestamptz, %(now)s::timestamptz,
        {_default_placeholders(lead_defaults)},
        {", ".join(f"i.{column}" for column in lead_columns)},
        i.quality_flags
            || CASE WHEN i.repeat_phone THEN {repeat_phone} ELSE '[]'::jsonb END
            || CASE WHEN i.repeat_ip THEN {repeat_ip} ELSE '[]'::jsonb END,
        COALESCE(
            i.first_by_phone,
            (SELECT min(earlier.id) FROM {leads} earlier
             WHERE i.email <> '' AND earlier.email = i.email
               AND earlier.received_at >= %(since)s::timestamptz))
    FROM flagged i
    ORDER BY i.position
    ON CONFLICT (source_id, source_lead_id) DO NOTHING
    RETURNING id, source_lead_id, duplicate_of_id, quality_flags
),
consented AS (
    INSERT INTO {consents} (
        lead_id, capture_method, created_at,
        {", ".join(field.column for field in consent_defaults)},
        {", ".join(consent_columns)})
    SELECT
        n.id, %(capture_method)s::varchar, %(now)s::timestamptz,
        {_default_placeholders(consent_defaults)},
        {", ".join(f"c.{column}" for column in consent_columns)}
    FROM inserted n
    JOIN incoming i ON i.source_lead_id = n.source_lead_id
    CROSS JOIN LATERAL jsonb_to_record(i.consent) AS c(
        {_column_definitions(ConsentRecord, CONSENT_EVIDENCE_FIELDS)})
    WHERE i.consent IS NOT NULL
)
SELECT source_lead_id, id, duplicate_of_id, quality_flags FROM inserted
""")


def _one_line(sql: str) -> str:
    # psycopg remembers how it converted a statement only up to 4 kB; converting this one
    # anew costs a third of a millisecond on every call.
    return " ".join(sql.split())


@cache
def _default_params() -> dict:
    """The stored form of every defaulted field's default, e.g. status "new", score 0."""
    return {
        f"default_{field.column}": field.get_db_prep_save(field.get_default(), connection)
        for field in [*_lead_defaults(), *_consent_defaults()]
    }


def _execute_prepared(sql: str, params: dict) -> list[tuple]:
    """Run a statement on Django's connection as a server-side prepared statement.

    Planning the insert costs PostgreSQL more than running it for one lead, and Django's
    cursors bind parameters on the client, which has it planned again on every call.
    """
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _consent_row(consent: CleanConsent) -> dict:
    disclosure = consent.disclosure_text
    return {
        "channels": consent.channels,
        "seller_names": consent.seller_names,
        "disclosure_text": disclosure,
        "disclosure_sha256": disclosure_fingerprint(disclosure),
        "captured_at": consent.captured_at.isoformat() if consent.captured_at else None,
        "ip_address": consent.ip_address,
        "user_agent": consent.user_agent,
        "page_url": consent.page_url,
        "trustedform_cert_url": consent.trustedform_cert_url,
        "jornaya_leadid": consent.jornaya_leadid,
    }


def _lead_row(position: int, lead: CleanLead) -> dict:
    row = {name: getattr(lead, name) for name in LEAD_ROW_FIELDS}
    row["cost"] = str(lead.cost)  # exact in JSON, read back as numeric
    row["position"] = position
    row["quality_flags"] = lead.quality_flags
    if lead.consent is not None:
        row["consent"] = _consent_row(lead.consent)
    return row


def leads_insert(
    *,
    source: LeadSource,
    leads: list[CleanLead],
    received_at: datetime.datetime,
    duplicates_since: datetime.datetime,
    capture_method: str,
) -> dict[str, StoredLead]:
    """Insert these leads and their consent; return the inserted ones by source lead id.

    A lead whose source lead id is already stored (or is being stored by a concurrent
    request, which is waited for) is skipped and missing from the answer.
    """
    if not leads:
        return {}
    if connection.vendor != "postgresql":
        return _insert_portable(source, leads, received_at, duplicates_since, capture_method)
    params = {
        **_default_params(),
        "leads": Jsonb([_lead_row(position, lead) for position, lead in enumerate(leads)]),
        "source_id": source.pk,
        "now": received_at,
        "since": duplicates_since,
        "repeats_since": received_at - REPEAT_WINDOW,
        "capture_method": capture_method,
    }
    rows = _execute_prepared(_insert_sql(), params)
    return {
        source_lead_id: StoredLead(id, original, json.loads(flags))
        for source_lead_id, id, original, flags in rows
    }


def leads_stored(*, source: LeadSource, source_lead_ids: set[str]) -> list[tuple]:
    """Return (source lead id, id, duplicate_of_id, quality flags, time zone mismatch) of
    this source's stored leads with these source lead ids."""
    columns = ("source_lead_id", "id", "duplicate_of_id", "quality_flags", "time_zone_mismatch")
    if connection.vendor != "postgresql":
        leads = Lead.objects.filter(source=source, source_lead_id__in=source_lead_ids)
        return list(leads.values_list(*columns))
    # One array parameter rather than a thousand: a batch asks this for all its ids.
    rows = _execute_prepared(
        f"SELECT {', '.join(columns)} FROM {Lead._meta.db_table} "
        "WHERE source_id = %(source_id)s::bigint AND source_lead_id = ANY(%(ids)s::varchar[])",
        {"source_id": source.pk, "ids": list(source_lead_ids)},
    )
    # Django's connection hands jsonb over as text, for JSONField to decode.
    return [(*row[:3], json.loads(row[3]), row[4]) for row in rows]


def _insert_portable(source, leads, received_at, duplicates_since, capture_method):
    """The same with the ORM, for the embedded default (SQLite, where writers take turns)."""
    with transaction.atomic():
        flags = _quality_flags_with_repeats(leads, received_at - REPEAT_WINDOW)
        stored_ids = set(
            Lead.objects.filter(
                source=source, source_lead_id__in=[lead.source_lead_id for lead in leads]
            ).values_list("source_lead_id", flat=True)
        )
        leads = [lead for lead in leads if lead.source_lead_id not in stored_ids]
        first_by_phone = _first_ids("phone", {lead.phone for lead in leads}, duplicates_since)
        first_by_email = _first_ids("email", {lead.email for lead in leads}, duplicates_since)
        records = [
            Lead(
                source=source,
                received_at=received_at,
                duplicate_of_id=first_by_phone.get(lead.phone) or first_by_email.get(lead.email),
                quality_flags=flags[lead.source_lead_id],
                **{name: getattr(lead, name) for name in LEAD_ROW_FIELDS},
            )
            for lead in leads
        ]
        Lead.objects.bulk_create(records)
        ConsentRecord.objects.bulk_create(
            ConsentRecord(
                lead=record,
                capture_method=capture_method,
                **{**_consent_row(lead.consent), "captured_at": lead.consent.captured_at},
            )
            for lead, record in zip(leads, records, strict=True)
            if lead.consent is not None
        )
    return {
        lead.source_lead_id: StoredLead(lead.pk, lead.duplicate_of_id, lead.quality_flags)
        for lead in records
    }


def _quality_flags_with_repeats(leads, since) -> dict[str, list[str]]:
    phone_hits = Counter(lead.phone for lead in leads)
    ip_hits = Counter(lead.consent.ip_address for lead in leads if lead.consent)
    flags = {}
    for lead in leads:
        ip = lead.consent.ip_address if lead.consent else None
        stored_phones = Lead.objects.filter(phone=lead.phone, received_at__gte=since)
        stored_ips = ConsentRecord.objects.filter(ip_address=ip, created_at__gte=since)
        repeats = {
            QualityFlag.REPEAT_PHONE: phone_hits[lead.phone]
            + stored_phones[:REPEAT_PHONE_LIMIT].count()
            > REPEAT_PHONE_LIMIT,
            QualityFlag.REPEAT_IP: ip is not None
            and ip_hits[ip] + stored_ips[:REPEAT_IP_LIMIT].count() > REPEAT_IP_LIMIT,
        }
        flags[lead.source_lead_id] = [*lead.quality_flags, *(f for f, on in repeats.items() if on)]
    return flags


def _first_ids(column: str, values: set[str], since: datetime.datetime) -> dict[str, int]:
    """Return the first lead received since `since` for each of these phones or emails."""
    return dict(
        Lead.objects.filter(**{f"{column}__in": values - {""}, "received_at__gte": since})
        .order_by()
        .values_list(column)
        .annotate(Min("id"))
    )
