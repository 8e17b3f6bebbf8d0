import json
import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from leads.intake.csv_import import ImportRefused, import_create, import_start, mapping_suggest
from leads.models import ImportRun, ImportStatus, LeadSource

FINAL = {ImportStatus.FINISHED, ImportStatus.FAILED}


class Command(BaseCommand):
    help = "Import a vendor's CSV file of leads as an RQ job, with the API's validation."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", required=True, help="The source's slug.")
        parser.add_argument(
            "--mapping",
            default="",
            help='JSON of lead field to CSV column, e.g. {"phone": "Phone Number"}. '
            "Default: the source's last mapping, then matching header names.",
        )
        parser.add_argument("--no-wait", action="store_true", help="Queue it and return.")

    def handle(self, *args, file, source, mapping, no_wait, **options):
        lead_source = LeadSource.objects.filter(slug=source).first()
        if lead_source is None:
            raise CommandError(f"--source: no source with slug {source!r}.")
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            explicit = json.loads(mapping) if mapping else None
        except ValueError as error:
            raise CommandError(f"--mapping: not JSON ({error}).") from error
        try:
            with file.open("rb") as handle:
                run = import_create(source=lead_source, upload=File(handle, name=file.name))
            chosen = explicit or mapping_suggest(
                columns=run.columns, remembered=lead_source.csv_column_mapping
            )
            import_start(run=run, mapping=chosen)
        except ImportRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Import #{run.pk} queued with mapping {json.dumps(chosen)}.")
        if no_wait:
            return
        run = self._wait(run.pk)
        self.stdout.write(
            f"Import #{run.pk} {run.get_status_display().lower()}: {run.rows_done} rows, "
            f"{run.accepted} accepted, {run.duplicates} duplicates, {run.replays} already "
            f"imported, {run.rejected} rejected. {run.message}".strip()
        )
        if run.error_file:
            self.stdout.write(f"Rejected rows: {run.error_file.path}")

    def _wait(self, run_id: int) -> ImportRun:
        waited = 0
        while True:
            run = ImportRun.objects.get(pk=run_id)
            if run.status in FINAL:
                return run
            if run.rows_total:
                self.stdout.write(f"  {run.rows_done:,} of about {run.rows_total:,} rows")
            elif waited == 10:
                self.stdout.write(
                    "  Still queued: is an RQ worker running? (python manage.py rqworker imports)"
                )
            time.sleep(2)
            waited += 2
