"""Tick the clock in this process: the embedded default's stand-in for Celery beat."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from leads.touches import due_touches_dispatch


class Command(BaseCommand):
    help = (
        "Queue due texts and emails every few seconds, as Celery beat does in production. "
        "Use it when Leadline runs without Redis (tasks run in this process)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=settings.CLOCK_TICK_SECONDS,
            help="Seconds between ticks (default: CLOCK_TICK_SECONDS).",
        )
        parser.add_argument("--once", action="store_true", help="Tick once and exit.")

    def handle(self, *args, every, once, **options):
        while True:
            queued = due_touches_dispatch()
            if queued:
                self.stdout.write(f"Queued {queued} due touch(es).")
            if once:
                return
            time.sleep(every)
