"""What the benchmarks share: their own PostgreSQL database and Django set up against it.

BENCH_DATABASE names that database (default leadline_bench), so a quick run can use one of
its own and never replace the data set a full-size run loaded.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE") or "leadline_bench"
BENCH_SECRET_KEY = "bench-only-secret-key-bench-only-secret-key-0123456789"


def bench_database_url() -> str:
    """Create the benchmark database on DATABASE_URL's server if needed; return its URL."""
    server = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    parts = urlparse(server)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the benchmarks need a PostgreSQL DATABASE_URL")
    import psycopg
    from psycopg import sql

    # The maintenance database, since DATABASE_URL's own (a test run's, say) may not exist.
    maintenance = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
    return urlunparse(parts._replace(path=f"/{BENCH_DB}"))


def server_env(**extra: str) -> dict[str, str]:
    """Return the production-like environment the benchmarked processes run with."""
    env = {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "SECRET_KEY": BENCH_SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def setup_django(**extra: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.update(server_env(**extra))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
