import datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance.dnc import dnc_list_create, dnc_list_import
from compliance.models import DncListKind

OPTION_OF_FIELD = {"kind": "--kind", "state": "--state", "list_date": "--date"}


class Command(BaseCommand):
    help = (
        "Import a copy of a Do Not Call list (one number per line, the registry's "
        '"area code,number" lines, or a CSV) here and now, replacing the older copy.'
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", required=True, choices=DncListKind.values)
        parser.add_argument("--state", default="", help="Two-letter code, for a state list.")
        parser.add_argument("--date", required=True, help="The copy's date, YYYY-MM-DD.")

    def handle(self, *args, file, kind, state, date, **options):
        try:
            list_date = datetime.date.fromisoformat(date)
        except ValueError:
            raise CommandError(f"--date: {date!r} is not a date (YYYY-MM-DD).") from None
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            dnc_list = dnc_list_create(
                kind=kind, state=state.strip().upper(), list_date=list_date, file_name=file.name
            )
        except ValidationError as error:
            raise CommandError(
                " ".join(
                    f"{OPTION_OF_FIELD.get(name, name)}: {message}"
                    for name, messages in error.message_dict.items()
                    for message in messages
                )
            ) from None
        try:
            outcome = dnc_list_import(dnc_list=dnc_list, path=file)
        except Exception as error:
            raise CommandError(f"{dnc_list}: import failed: {error}") from error
        self.stdout.write(self._summary(outcome))

    def _summary(self, outcome) -> str:
        dnc_list = outcome.dnc_list
        name = "national" if dnc_list.kind == DncListKind.NATIONAL else dnc_list.get_state_display()
        text = (
            f"Imported {dnc_list.number_count:,} numbers ({dnc_list.rejected_count:,} rejected) "
            f"into the {name} Do Not Call list of {dnc_list.list_date:%Y-%m-%d}"
        )
        if outcome.superseded_by:
            return (
                f"{text}; the newer list of {outcome.superseded_by.list_date:%Y-%m-%d} stays "
                "in force, so this copy is kept only as a record."
            )
        if outcome.replaced:
            dates = ", ".join(f"{old.list_date:%Y-%m-%d}" for old in outcome.replaced)
            return f"{text}; replaced the list of {dates}."
        return f"{text}."
