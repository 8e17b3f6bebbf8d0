from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from leads.feedback.tokens import TokenError, api_token_create


class Command(BaseCommand):
    help = (
        "Make an API token for the business's own systems (conversions and returns API), "
        "acting for a manager, and print it (shown once; only a hash is kept)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The manager the token acts for.")
        parser.add_argument("--name", default="", help="What will use it, e.g. billing.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            token, key = api_token_create(user=user, name=name)
        except TokenError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Created API token {token.key_hint}… for {user}.")
        self.stdout.write("Send it as 'Authorization: Token <token>' (shown once):")
        self.stdout.write(key)
