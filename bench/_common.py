"""What the benchmarks share: their own PostgreSQL database and Django set up against it.

BENCH_DATABASE names that database (default leadline_bench). A --quick run uses
leadline_bench_quick unless BENCH_DATABASE names another, so its tiny sizes never replace
the data set a full-size run loaded.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def _folder_leaves_sys_path() -> None:
    """bench/queue.py has the standard library's `queue` for a name, and a script run from
    this folder has the folder first on sys.path: there `import queue` (psycopg,
    multiprocessing and logging import it) would find the benchmark. The benchmarks import
    each other as `bench.*`, so the folder leaves sys.path, and the benchmark, if it was
    imported as `queue` already, is forgotten."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    imported = getattr(sys.modules.get("queue"), "__file__", None)
    if imported and Path(imported).resolve() == here / "queue.py":
        del sys.modules["queue"]


_folder_leaves_sys_path()

DEFAULT_BENCH_DATABASE = "leadline_bench"
QUICK_BENCH_DATABASE = "leadline_bench_quick"
BENCH_SECRET_KEY = "bench-only-secret-key-bench-only-secret-key-0123456789"


def bench_database_name() -> str:
    # Read at call time, so a script may choose its database after importing this module.
    return os.environ.get("BENCH_DATABASE") or DEFAULT_BENCH_DATABASE


def quick_database_default() -> str:
    """Point a --quick run at its own database unless BENCH_DATABASE names one; return it."""
    os.environ["BENCH_DATABASE"] = os.environ.get("BENCH_DATABASE") or QUICK_BENCH_DATABASE
    return os.environ["BENCH_DATABASE"]


def bench_database_url() -> str:
    """Create the benchmark database on DATABASE_URL's server if needed; return its URL."""
    server = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    parts = urlparse(server)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the benchmarks need a PostgreSQL DATABASE_URL")
    import psycopg
    from psycopg import sql

    name = bench_database_name()
    # The maintenance database, since DATABASE_URL's own (a test run's, say) may not exist.
    maintenance = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunparse(parts._replace(path=f"/{name}"))


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


def insert_select_parts(
    connection, model, varying: dict[str, str]
) -> tuple[list[str], list[str], dict]:
    """Return what an `INSERT INTO <model's table> (columns) SELECT values ...` needs: the
    columns, the SQL of each one's value, and the parameters those refer to.

    `varying` gives the SQL of some columns over the SELECT's own rows; every other column
    gets its model field's default (now() for auto_now fields), so a field added to the model
    later needs nothing in the benchmark, unless it is required and has no default: then the
    load stops and names it.
    """
    columns, values, params = [], [], {}
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key:
            continue
        column = model_field.column
        columns.append(column)
        if column in varying:
            values.append(varying[column])
        elif getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            values.append("now()")
        else:
            default = model_field.get_default()
            if default is None and not model_field.null:
                sys.exit(
                    f"{model.__name__}.{model_field.name} is required and has no default: "
                    "say how the benchmark fills it"
                )
            name = f"default_{model._meta.db_table}_{column}"
            params[name] = model_field.get_db_prep_save(default, connection)
            values.append(f"%({name})s::{model_field.db_type(connection)}")
    return columns, values, params
