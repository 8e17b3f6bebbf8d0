from django.core.management.base import BaseCommand

from leads.places import PLACES_FILE, places_file_write


class Command(BaseCommand):
    help = "Rebuild leads/data/places.json.gz (ZIPs, zones, area codes) from the zipcodes package."

    def handle(self, *args, **options):
        count = places_file_write()
        self.stdout.write(f"Wrote {count:,} ZIPs to {PLACES_FILE}")
