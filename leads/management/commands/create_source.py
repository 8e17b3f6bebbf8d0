from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from leads.sources import source_create


def _price(value: str) -> Decimal:
    try:
        price = Decimal(value)
    except InvalidOperation as error:
        raise CommandError(f"--price: {value!r} is not an amount like 25.00") from error
    if price < 0:
        raise CommandError("--price: must not be negative")
    return price


class Command(BaseCommand):
    help = "Create a lead source and print its API key (shown this once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The vendor\'s name, e.g. "SunPath Media".')
        parser.add_argument("--slug", default="", help="Short name; made from the name if absent.")
        parser.add_argument("--price", type=_price, default=Decimal("0"), help="Price per lead.")
        parser.add_argument(
            "--require-consent",
            action="store_true",
            help="Refuse this source's leads that arrive without consent evidence.",
        )
        parser.add_argument("--daily-cap", type=int, default=None, help="Most leads per day.")
        parser.add_argument(
            "--feedback-url",
            default="",
            help="Where to post its feedback webhooks; prints the signing secret once.",
        )

    def handle(self, *args, name, slug, price, require_consent, daily_cap, feedback_url, **options):
        try:
            source, key = source_create(
                name=name,
                slug=slug,
                price_per_lead=price,
                require_consent=require_consent,
                daily_cap=daily_cap,
                feedback_webhook_url=feedback_url,
            )
        except ValidationError as error:
            problems = "; ".join(f"{f}: {' '.join(m)}" for f, m in error.message_dict.items())
            raise CommandError(problems) from error
        self.stdout.write(f"Created source {source.name} (slug {source.slug}).")
        self.stdout.write("API key (shown once; only a hash is kept):")
        self.stdout.write(key)
        if source.feedback_webhook_url:
            self.stdout.write(
                f"Webhook signing secret for {source.feedback_webhook_url} (shown once; "
                "the source checks Leadline-Signature with it):"
            )
            self.stdout.write(source.webhook_signing_secret)
