"""Leadline settings, configured by environment variables.

The defaults run a fresh machine with no servers (SQLite, in-process tasks) when DEBUG is on,
and are safe in production: with DEBUG off a SECRET_KEY is required and HTTPS is enforced.
"""

import datetime
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# Required when DEBUG is off: the servers refuse to start without it (crm.checks), while
# commands that only read the code (makemigrations --check) run.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "django-insecure-leadline-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "crm.admin_site.LeadlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "phonenumber_field",
    "simple_history",
    "django_celery_beat",
    "django_rq",
    "django_htmx",
    "adminsortable2",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm",
    "leads",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "crm.middleware.QueueUnavailableMiddleware",
    # Answers a locked-out sign-in with the lockout page (crm.logins).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in the project by default; PostgreSQL in production and CI via DATABASE_URL.
# Persistent connections with health checks are worth about 6x on request throughput here.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django turns psycopg's prepared statements off; intake's insert asks for one (planning
    # it cost PostgreSQL three times what running it does). Django's own queries are bound on
    # the client and never prepared. Turn off (0) behind a pooler in transaction mode.
    prepared = env_bool("DB_PREPARED_STATEMENTS", True)
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5 if prepared else None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: wait for the writer instead of failing, and use WAL so readers never block.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling (crm.logins): the people's login page and the admin's.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = "crm.logins.lockout_parameters"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, how many proxies set X-Forwarded-For (0: REMOTE_ADDR is the client).
AXES_IPWARE_PROXY_COUNT = env_int("LOGIN_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Times are stored in UTC; TIME_ZONE is only how the admin shows them.
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"

# Email: console in the embedded default, SMTP when EMAIL_URL or EMAIL_HOST is set.
# EMAIL_URL (smtp://user:password@host:587, smtps://...:465 for SSL) gives the host, port and
# credentials at once; an EMAIL_* variable set beside it wins.
_email_url = urlsplit(os.environ.get("EMAIL_URL", ""))
if _email_url.geturl() and (_email_url.scheme not in {"smtp", "smtps"} or not _email_url.hostname):
    raise ImproperlyConfigured("EMAIL_URL must look like smtp://user:password@host:587.")
EMAIL_HOST = os.environ.get("EMAIL_HOST") or _email_url.hostname or ""
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int(
    "EMAIL_PORT", _email_url.port or (465 if _email_url.scheme == "smtps" else 587)
)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER") or unquote(_email_url.username or "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD") or unquote(_email_url.password or "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Leadline <leadline@localhost>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Security: production defaults are strict; each can be relaxed by its variable.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Queues. REDIS_URL unset means everything runs in-process (the embedded default).
REDIS_URL = os.environ.get("REDIS_URL", "")
TASKS_IN_PROCESS = not REDIS_URL
# With Redis unreachable, intake stores leads as usual ("accept", the rate limit not counted)
# or answers 503 with Retry-After, storing nothing ("refuse").
INTAKE_WITHOUT_REDIS = os.environ.get("INTAKE_WITHOUT_REDIS", "accept").strip().lower()
if INTAKE_WITHOUT_REDIS not in {"accept", "refuse"}:
    raise ImproperlyConfigured("INTAKE_WITHOUT_REDIS must be accept or refuse.")
# Put before Leadline's own Redis keys (rate limits, the fast-lane hand-off), so that two
# deployments (or two test runs) can share one Redis.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "")

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = TASKS_IN_PROCESS
# The queue tasks go to and workers read unless told otherwise (tests give each run its own).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 90)
# Ack after the task ran, so a worker that dies mid-task gives its work back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DJANGO_CELERY_BEAT_TZ_AWARE = True
# The clock. Beat copies these into django-celery-beat's tables at start; managers can
# change the interval in the admin. Without Redis, `manage.py run_clock` ticks instead.
CLOCK_TICK_SECONDS = env_int("CLOCK_TICK_SECONDS", 5)
# How often a rep's open queue page asks for new leads, callbacks and alerts.
QUEUE_POLL_SECONDS = env_int("QUEUE_POLL_SECONDS", 10)
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-touches": {
        "task": "leads.tasks.dispatch_due_touches",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
    # When each open lead may next be called, for "next lead" (leads.workspace.queue).
    "refresh-calling-windows": {
        "task": "leads.tasks.refresh_calling_windows",
        "schedule": float(CLOCK_TICK_SECONDS) * 6,
        "options": {"expires": CLOCK_TICK_SECONDS * 6},
    },
    # Leads waiting in the pool, for reps who have come on shift or freed capacity.
    "route-pool-leads": {
        "task": "leads.tasks.route_pool_leads",
        "schedule": float(CLOCK_TICK_SECONDS) * 6,
        "options": {"expires": CLOCK_TICK_SECONDS * 6},
    },
    # Speed-to-lead: leads not called in time escalate (leads.workspace.sla).
    "escalate-sla": {
        "task": "leads.tasks.escalate_sla",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
    # Callbacks that have come due: their reps are told (leads.workspace.alerts).
    "alert-due-callbacks": {
        "task": "leads.tasks.alert_due_callbacks",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
    # Due lead-to-call bridges: the gate asked again, then the rep rung (leads.voice.bridge).
    "dispatch-due-bridges": {
        "task": "leads.tasks.dispatch_due_bridges",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
    # Cadences whose last step has passed with nothing left to do (leads.cadences).
    "finish-cadences": {
        "task": "leads.tasks.finish_cadences",
        "schedule": float(CLOCK_TICK_SECONDS) * 6,
        "options": {"expires": CLOCK_TICK_SECONDS * 6},
    },
    # Sends whose worker died between claim and the provider's answer (leads.cadences).
    "reconcile-interrupted-sends": {
        "task": "leads.tasks.reconcile_interrupted_sends",
        "schedule": float(CLOCK_TICK_SECONDS) * 6,
        "options": {"expires": CLOCK_TICK_SECONDS * 6},
    },
    # Leads the fast lane missed (Redis away, a process killed) or failed on.
    "sweep-unprocessed-leads": {
        "task": "leads.tasks.sweep_unprocessed_leads",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
    # The dashboard's figures (leads.feedback.rollups): recent days often, older ones nightly.
    "refresh-rollups": {
        "task": "leads.tasks.refresh_rollups",
        "schedule": float(env_int("ROLLUP_REFRESH_SECONDS", 300)),
        "options": {"expires": env_int("ROLLUP_REFRESH_SECONDS", 300)},
    },
    "refresh-rollups-nightly": {
        "task": "leads.tasks.refresh_rollups_nightly",
        "schedule": crontab(minute=20, hour=0),
    },
    # Yesterday's (UTC) feedback file per source (leads.feedback.exports); once each.
    "prepare-daily-feedback-files": {
        "task": "leads.tasks.prepare_daily_feedback_files",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Feedback webhooks that are due (leads.feedback.webhooks).
    "dispatch-feedback-deliveries": {
        "task": "leads.tasks.dispatch_feedback_deliveries",
        "schedule": float(CLOCK_TICK_SECONDS),
        "options": {"expires": CLOCK_TICK_SECONDS * 2},
    },
}
# The dashboard's figures: the clock rebuilds the last ROLLUP_REFRESH_DAYS UTC days every
# ROLLUP_REFRESH_SECONDS, and the last ROLLUP_NIGHTLY_DAYS (late sales, returns) each night.
ROLLUP_REFRESH_SECONDS = env_int("ROLLUP_REFRESH_SECONDS", 300)
ROLLUP_REFRESH_DAYS = env_int("ROLLUP_REFRESH_DAYS", 2)
ROLLUP_NIGHTLY_DAYS = env_int("ROLLUP_NIGHTLY_DAYS", 35)
# Feedback exports: a range whose rows (estimated by its events) exceed this is prepared as
# a file by an RQ job instead of streamed, so it finishes within the web server's timeout.
FEEDBACK_STREAM_MAX_ROWS = env_int("FEEDBACK_STREAM_MAX_ROWS", 1_000_000)
FEEDBACK_MAX_RANGE_DAYS = env_int("FEEDBACK_MAX_RANGE_DAYS", 366)
# Feedback webhooks: each POST's timeout; events per task; events claimed per tick; how long
# a claimed event is leased to its task; how long a failing event is retried.
FEEDBACK_TIMEOUT_SECONDS = env_int("FEEDBACK_TIMEOUT_SECONDS", 5)
FEEDBACK_BATCH_SIZE = env_int("FEEDBACK_BATCH_SIZE", 100)
FEEDBACK_DISPATCH_LIMIT = env_int("FEEDBACK_DISPATCH_LIMIT", 2000)
FEEDBACK_LEASE_SECONDS = env_int("FEEDBACK_LEASE_SECONDS", 600)
FEEDBACK_RETRY_HOURS = env_int("FEEDBACK_RETRY_HOURS", 25)
# A delivery task stops posting after this long, well inside Celery's time limits.
FEEDBACK_TASK_SECONDS = env_int("FEEDBACK_TASK_SECONDS", CELERY_TASK_SOFT_TIME_LIMIT // 2)

# RQ: the long jobs a person starts and watches. Without Redis the queues run synchronously
# on an in-memory Redis (see crm.queues).
RQ_QUEUE_NAMES = ("default", "imports", "exports")
RQ_QUEUES = {
    name: {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "DEFAULT_TIMEOUT": env_int("RQ_DEFAULT_TIMEOUT", 3600),
        "ASYNC": not TASKS_IN_PROCESS,
    }
    for name in RQ_QUEUE_NAMES
}
RQ_SHOW_ADMIN_LINK = bool(REDIS_URL)
# Enqueue when the surrounding transaction commits, so a job never sees uncommitted rows.
RQ = {"COMMIT_MODE": "on_db_commit"}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Leadline lead delivery API",
    "DESCRIPTION": (BASE_DIR / "leads" / "api" / "GUIDE.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The shared cache carries rate-limit counters: Redis when configured, else this process.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# How long a source's 90-day record (a scoring factor) is kept before it is read again.
SOURCE_STATS_CACHE_SECONDS = env_int("SOURCE_STATS_CACHE_SECONDS", 600)
# The batch API takes up to 1,000 leads (8 MiB); single posts are limited in the view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "US")
PHONENUMBER_DB_FORMAT = "E164"

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# The business's names as lead forms show them; automated contact needs consent naming one.
SELLER_NAMES = env_list("SELLER_NAMES", "Brightside Home Services" if DEBUG else "")

# Leads received from the same phone or email within this many days are duplicates.
LEAD_DUPLICATE_WINDOW_DAYS = env_int("LEAD_DUPLICATE_WINDOW_DAYS", 30)

# Compliance. Marketing email needs the business's postal address (CAN-SPAM) and a working
# unsubscribe link, which is built on SITE_URL.
BUSINESS_NAME = os.environ.get("BUSINESS_NAME", SELLER_NAMES[0] if SELLER_NAMES else "")
BUSINESS_POSTAL_ADDRESS = os.environ.get(
    "BUSINESS_POSTAL_ADDRESS", "100 Biscayne Blvd, Miami, FL 33132" if DEBUG else ""
)
# How cadence messages give the business's number ({{ business.phone }}).
BUSINESS_PHONE = os.environ.get("BUSINESS_PHONE", "(305) 555-0100" if DEBUG else "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
UNSUBSCRIBE_MAILTO = os.environ.get("UNSUBSCRIBE_MAILTO", "")
# Marketing calls and texts to one number per rolling 24 hours where no state sets a cap.
COMPLIANCE_DEFAULT_ATTEMPT_CAP = env_int("COMPLIANCE_DEFAULT_ATTEMPT_CAP", 6)

# Text messages: the console backend logs them; set TWILIO_* and the Twilio backend to send.
# With TWILIO_AUTH_TOKEN set, inbound webhooks must carry Twilio's signature.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "crm.sms.ConsoleBackend")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
# Outbound (leads.cadences.outbound). Empty TWILIO_API_BASE_URL: Twilio's own hosts; tests and
# benches point it at a local server answering like Twilio's REST API.
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "").rstrip("/")
# Sends per second to each provider, shared by every worker (a token bucket in Redis; no
# limit without Redis). 0: no limit.
SMS_RATE_PER_SECOND = float(os.environ.get("SMS_RATE_PER_SECOND", "") or 10)
EMAIL_RATE_PER_SECOND = float(os.environ.get("EMAIL_RATE_PER_SECOND", "") or 20)
# A touch left "sending" this long had its worker die between claim and the provider's
# answer: the clock reconciles it (a text from the provider's records; an email is marked
# unknown for a manager). Longer than CELERY_TASK_TIME_LIMIT, so no live task still has it.
SEND_INTERRUPTED_AFTER_SECONDS = env_int("SEND_INTERRUPTED_AFTER_SECONDS", 180)
# A touch queued this long whose task never ran (its message lost, Redis flushed) is queued
# again; the send task's claim makes a duplicate harmless.
SEND_REQUEUE_AFTER_SECONDS = env_int("SEND_REQUEUE_AFTER_SECONDS", 600)

# The lead-to-call bridge (leads.voice.bridge): rings a rep, then dials the lead once the
# rep pressed 1. The console backend logs calls; crm.telephony.TwilioVoiceBackend places them.
VOICE_BACKEND = os.environ.get("VOICE_BACKEND", "crm.telephony.ConsoleVoiceBackend")
# Empty: Twilio's own API. Tests point the client at a local fake.
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "").rstrip("/")
# The business number shown as caller ID, which people can call back (47 CFR 64.1601(e)).
VOICE_CALLER_ID = os.environ.get("VOICE_CALLER_ID", "")
VOICE_RECORD_CALLS = env_bool("VOICE_RECORD_CALLS", False)
# "always": announce recording on every recorded call; "all_party_states": only to leads
# with a location in a state that needs every party's consent.
VOICE_RECORDING_NOTICE = os.environ.get("VOICE_RECORDING_NOTICE", "always")
VOICE_REP_RING_SECONDS = env_int("VOICE_REP_RING_SECONDS", 20)
# At least 15 seconds (47 CFR 64.1200(a)(6)): less is raised to 15.
VOICE_LEAD_RING_SECONDS = env_int("VOICE_LEAD_RING_SECONDS", 25)
VOICE_MAX_REPS = env_int("VOICE_MAX_REPS", 3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The Twilio library logs every request's headers at INFO.
        "twilio.http_client": {"level": "WARNING"},
    },
}
