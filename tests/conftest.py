import os

import pytest

from tests.factories import LeadSourceFactory, ManagerFactory, RepFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, available: bool, why: str) -> None:
    """Fail in CI when a real service is missing; elsewhere skip, saying why."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {why}")
    pytest.skip(f"{name} not configured: {why}")


def pytest_configure(config):
    """Fast, local settings for the whole run, before any server (live_server) starts."""
    from django.conf import settings

    # The manifest storage needs collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Each test reads a source's record afresh (a cached one could be another test's).
    settings.SOURCE_STATS_CACHE_SECONDS = 0
    # The live server speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # Parallel workers share one Redis: each keeps its counters under its own prefix.
    settings.REDIS_KEY_PREFIX = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Remembered source keys and rate-limit counters: each test starts with none.
    from django.conf import settings
    from django.core.cache import cache

    from leads import sources

    sources._sources_by_key_hash.clear()
    if not settings.REDIS_URL:
        cache.clear()
    else:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{settings.REDIS_KEY_PREFIX}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def rep(db):
    return RepFactory(username="rep.one", first_name="Riley", last_name="One")


@pytest.fixture
def other_rep(db):
    return RepFactory(username="rep.two", first_name="Sam", last_name="Two")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="boss", first_name="Morgan", last_name="Reyes")


@pytest.fixture
def source(db):
    return LeadSourceFactory(name="SunPath Media", slug="sunpath")


@pytest.fixture
def other_source(db):
    return LeadSourceFactory(name="HomeQuote Direct", slug="homequote")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in this process, even where REDIS_URL (CI) would send them to Redis."""
    from crm.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
