"""Time the managers' lead list at a million leads, beside a stock Django admin and bare SQL.

Usage: .venv/bin/python bench/admin_changelist.py [--leads 1000000] [--repeat 15] [--quick]

Needs PostgreSQL: DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test);
the benchmark creates and uses its own database on that server, BENCH_DATABASE (default
leadline_bench; leadline_bench_quick with --quick, which loads 6,000 leads and repeats 3 times,
to show in seconds that the benchmark still runs).
Prints, for each page view: median and p95 milliseconds, the number of SQL statements, and
whether any of them counted the whole table.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import insert_select_parts, quick_database_default, setup_django

QUICK_LEADS = 6_000  # 60 pages of 100: "page 50" exists
QUICK_REPEAT = 3

# How the benchmark's leads differ from one another: SQL over g, the row's number. Every other
# column gets its model field's default, so a field added to Lead later needs nothing here
# (unless it is required and has no default: then the load stops and says so).
VARYING_COLUMNS = {
    "source_id": "(%(sources)s::bigint[])[1 + g %% 8]",
    "source_lead_id": "'B-' || g",
    "received_at": "now() - (g || ' seconds')::interval",
    "first_name": "(ARRAY['Ana','Ben','Cara','Dev','Eli','Fay','Gus','Hana'])[1 + g %% 8]",
    "last_name": "'Last' || (g %% 5000)",
    # An area code bench/intake.py never dials, so its new people never repeat these.
    "phone": "'+1407' || lpad((2000000 + g %% 7999999)::text, 7, '0')",
    "email": "'lead' || g || '@example.com'",
    "state": "(%(states)s::text[])[1 + g %% 10]",
    "time_zone": "'America/New_York'",
    "area_code_time_zones": "'[\"America/New_York\"]'::jsonb",
    "product": "'solar'",
    "cost": "25.00",
    "status": "(%(statuses)s::text[])[1 + g %% 6]",
    "score": "g %% 101",
    "owner_id": "CASE WHEN g %% 4 = 0 THEN NULL ELSE (%(reps)s::int[])[1 + g %% 20] END",
    # Leads of a CRM in use have been through the fast lane, a second after they arrived.
    "processed_at": "now() - (g || ' seconds')::interval + interval '1 second'",
}


def _load_leads(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from leads.models import Lead, LeadSource, RepProfile
    from leads.sources import source_create

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    if not user_model.objects.filter(username="bench-admin").exists():
        user_model.objects.create_superuser("bench-admin", "bench@example.com", "bench")
    reps = []
    for n in range(20):
        rep, _ = user_model.objects.get_or_create(username=f"bench-rep-{n}")
        RepProfile.objects.get_or_create(user=rep)
        reps.append(rep.pk)
    sources = [
        LeadSource.objects.filter(slug=f"bench-{n}").first()
        or source_create(name=f"Bench vendor {n}", slug=f"bench-{n}")[0]
        for n in range(8)
    ]
    # Only this benchmark's own leads: others (bench/intake.py's) may share the database.
    have = Lead.objects.filter(source__in=sources).count()
    if have >= count:
        return
    print(f"loading {count - have:,} leads ...", flush=True)
    started = time.perf_counter()
    columns, values, defaults = insert_select_parts(connection, Lead, VARYING_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO leads_lead ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM generate_series(%(start)s, %(stop)s) AS g",
            {
                **defaults,
                "sources": [s.pk for s in sources],
                "states": ["FL", "TX", "CA", "NY", "GA", "OH", "AZ", "WA", "MD", "OK"],
                "statuses": ["new", "working", "contacted", "appointment", "won", "lost"],
                "reps": reps,
                "start": have + 1,
                "stop": count,
            },
        )
        cursor.execute("ANALYZE leads_lead")
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _stock_admin_urls():
    """A Lead admin as Django ships it: exact COUNT(*) per page and substring search."""
    from django.contrib import admin
    from django.urls import path

    from leads.models import Lead

    site = admin.AdminSite(name="stock")

    @admin.register(Lead, site=site)
    class StockLeadAdmin(admin.ModelAdmin):
        list_display = ("__str__", "source", "state", "status", "score", "owner", "received_at")
        list_filter = ("status", "source", "state", "owner", "received_at")
        search_fields = ("first_name", "last_name", "phone", "email", "source_lead_id")
        list_select_related = ("source", "owner")

    return [path("stock-admin/", site.urls)]


def _time(client, url: str, repeat: int) -> tuple[list[float], int, bool]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm caches and the connection
    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    sqls = [q["sql"].upper() for q in queries.captured_queries]
    full_count = any("COUNT(*)" in sql and "LIMIT" not in sql for sql in sqls)
    return timings, len(sqls), full_count


def _time_sql(repeat: int) -> list[float]:
    from django.db import connection

    sql = """
        SELECT l.*, s.name, u.username FROM leads_lead l
        JOIN leads_leadsource s ON s.id = l.source_id
        LEFT JOIN auth_user u ON u.id = l.owner_id
        ORDER BY l.received_at DESC, l.id DESC LIMIT 100
    """
    timings = []
    with connection.cursor() as cursor:
        for _ in range(repeat + 1):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings[1:]


def _row(label: str, timings: list[float], statements: str, full_count: str) -> None:
    p95 = statistics.quantiles(timings, n=20)[18] if len(timings) >= 2 else timings[0]
    median = statistics.median(timings)
    print(f"{label:<46} {median:>9.1f} {p95:>9.1f} {statements:>6} {full_count:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--quick", action="store_true", help="Tiny sizes in a database of their own: seconds."
    )
    args = parser.parse_args()
    if args.quick:
        quick_database_default()
        args.leads, args.repeat = QUICK_LEADS, QUICK_REPEAT
    setup_django()
    _load_leads(args.leads)

    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings
    from django.urls import include, path

    from leads.models import Lead

    urlconf = type(
        "BenchUrls",
        (),
        {"urlpatterns": [*_stock_admin_urls(), path("", include("crm.urls"))]},
    )
    own_leads = Lead.objects.filter(
        source__slug__startswith="bench-", source_lead_id__startswith="B-"
    )
    phone = str(own_leads.order_by("id").values_list("phone", flat=True)[500])
    pages = {
        "first page": "leads/lead/",
        "page 50": "leads/lead/?p=50",
        "filter status=won": "leads/lead/?status__exact=won",
        "filter state=TX + status=working": "leads/lead/?state__exact=TX&status__exact=working",
        f"search phone {phone}": f"leads/lead/?q={phone.replace('+', '%2B')}",
        "search last name": "leads/lead/?q=Last1234",
    }
    with override_settings(ROOT_URLCONF=urlconf):
        client = Client()
        client.force_login(get_user_model().objects.get(username="bench-admin"))
        total = Lead.objects.count()
        print(f"\nLead list at {total:,} leads, {args.repeat} requests each (milliseconds)\n")
        print(f"{'page view':<46} {'median':>9} {'p95':>9} {'SQL':>6} {'full COUNT':>10}")
        _row("bare SQL: first 100 rows, joined (baseline)", _time_sql(args.repeat), "1", "no")
        for label, url in pages.items():
            for admin_name, prefix in (("Leadline", "/admin/"), ("stock admin", "/stock-admin/")):
                timings, statements, full_count = _time(client, prefix + url, args.repeat)
                _row(
                    f"{admin_name}: {label}",
                    timings,
                    str(statements),
                    "yes" if full_count else "no",
                )


if __name__ == "__main__":
    main()
