from django.core.management.base import BaseCommand, CommandError

from leads.models import LeadSource
from leads.sources import source_key_rotate


class Command(BaseCommand):
    help = "Give a lead source a new API key; the old key stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The source's slug.")

    def handle(self, *args, slug, **options):
        source = LeadSource.objects.filter(slug=slug).first()
        if source is None:
            raise CommandError(f"No source with slug {slug!r}.")
        key = source_key_rotate(source=source)
        self.stdout.write(f"New API key for {source.name} (shown once; the old key is revoked):")
        self.stdout.write(key)
