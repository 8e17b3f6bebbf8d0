import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return _run(["manage.py", *args], **env)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    unset = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean_env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRODUCTION = {
    "SECRET_KEY": "x7#Kp2!vQ9z@Lm4$Wt8^Rb1&Yc6*Hn3(Ud5)Fg0-Js7+Ea2=Oi9_",
    "ALLOWED_HOSTS": "leadline.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SMS_BACKEND": "crm.sms.TwilioBackend",
    "TWILIO_AUTH_TOKEN": "a-twilio-auth-token",
    "SITE_URL": "https://leadline.example.com",
}


@pytest.mark.parametrize(
    "change, level, message",
    [
        ({"TWILIO_AUTH_TOKEN": ""}, "ERROR", "crm.E002"),
        ({"SMS_BACKEND": "crm.sms.ConsoleBackend"}, "WARNING", "crm.W001"),
        ({"REDIS_URL": ""}, "WARNING", "crm.W002"),
        ({"SITE_URL": ""}, "WARNING", "crm.W003"),
    ],
    ids=["twilio-without-token", "console-sms", "no-redis", "no-site-url"],
)
def test_deploy_check_names_what_production_lacks(change, level, message):
    result = _manage(
        "check", "--deploy", "--fail-level", level, DEBUG="0", **{**PRODUCTION, **change}
    )

    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.parametrize(
    "start",
    [
        ["manage.py", "check", "--deploy"],
        ["-c", "import crm.wsgi"],  # gunicorn's start
        ["-c", "import crm.asgi"],
        ["-m", "celery", "-A", "crm", "worker", "--pool", "solo"],
    ],
    ids=["check-deploy", "wsgi", "asgi", "celery-worker"],
)
def test_production_refuses_to_start_without_a_secret_key(start):
    result = _run(start, DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_migrations_can_be_checked_without_a_secret_key():
    """The code's own checks need no secrets: the key signs, it does not describe models."""
    result = _manage("makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_production_defaults_are_strict():
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS, s.TIME_ZONE, s.USE_TZ)",
        DEBUG="0",
        SECRET_KEY="k" * 60,
    )

    assert result.stdout.split() == ["True", "True", "True", "[]", "UTC", "True"]


def test_embedded_default_needs_no_servers():
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.TASKS_IN_PROCESS, "
        "s.CELERY_TASK_ALWAYS_EAGER, s.RQ_QUEUES['default']['ASYNC'], "
        "s.DATABASES['default']['ENGINE'])",
        DEBUG="1",
        REDIS_URL="",
        DATABASE_URL="",
    )

    assert result.stdout.split() == ["True", "True", "False", "django.db.backends.sqlite3"]


@pytest.mark.django_db
def test_every_model_change_has_a_migration():
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)


def _email_settings(**env: str) -> subprocess.CompletedProcess:
    return _run(
        [
            "-c",
            "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'crm.settings'; "
            "from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, "
            "s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL)",
        ],
        DEBUG="1",
        **env,
    )


def test_email_url_gives_the_smtp_server_and_its_credentials_at_once():
    result = _email_settings(EMAIL_URL="smtps://mailer%40example.com:p%3Ass@smtp.example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "465",
        "mailer@example.com",
        "p:ss",
        "False",
        "True",
    ]


def test_an_email_variable_beside_email_url_wins():
    result = _email_settings(EMAIL_URL="smtp://u:p@smtp.example.com:2525", EMAIL_HOST="other")

    assert result.stdout.split()[1:4] == ["other", "2525", "u"]


def test_a_malformed_email_url_is_refused_naming_it():
    result = _email_settings(EMAIL_URL="http://smtp.example.com")

    assert result.returncode != 0
    assert "EMAIL_URL must look like smtp://" in result.stderr
