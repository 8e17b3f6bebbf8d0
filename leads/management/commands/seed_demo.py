from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leads.demo import DEMO_PASSWORD, MAX_DEMO_LEADS, demo_data_load


class Command(BaseCommand):
    help = "Load demo sources, reps, a manager and about 2,000 leads. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads",
            type=int,
            default=2000,
            help=f"How many demo leads (at most {MAX_DEMO_LEADS:,}).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even with DEBUG off (demo users have a published password).",
        )

    def handle(self, *args, leads, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to create demo users with a published password while DEBUG is off. "
                "Use --force on a machine nobody else can reach."
            )
        if not 0 <= leads <= MAX_DEMO_LEADS:
            raise CommandError(
                f"--leads: the demo has room for 0 to {MAX_DEMO_LEADS:,} leads "
                "(each city's 100 phone numbers reserved for fiction)."
            )
        summary = demo_data_load(lead_count=leads)
        self.stdout.write(
            f"Demo data: {summary.leads_created} leads, {summary.consents_created} consent "
            f"records, {summary.suppressions_created} opt-outs, {summary.attempts_created} "
            f"attempts and {summary.touches_created} planned welcome texts and callbacks created; "
            f"{summary.conversions_created} conversions and {summary.returns_created} returns "
            f"recorded; {summary.enrollments_created} leads follow their cadence."
        )
        if summary.users_created:
            self.stdout.write(
                f"Users created: {', '.join(summary.users_created)} (password {DEMO_PASSWORD})."
            )
        for name, key in summary.source_keys.items():
            self.stdout.write(f"API key for {name} (shown once): {key}")
