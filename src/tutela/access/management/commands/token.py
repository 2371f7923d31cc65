"""`tutela token create|list|revoke`: API tokens for integrations."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.access.models import ApiToken, User
from tutela.access.tokens import issue_token


class Command(BaseCommand):
    help = "Create, list and revoke API tokens. A new token is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a token for a user.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What the token is for")
        listing = actions.add_parser("list", help="List a user's tokens (never the secrets).")
        listing.add_argument("username")
        revoke = actions.add_parser("revoke", help="Revoke a token by its prefix.")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "revoke":
            count = ApiToken.objects.filter(prefix=options["prefix"]).update(revoked=True)
            if not count:
                raise CommandError(f"No token has the prefix {options['prefix']!r}.")
            self.stdout.write("Revoked 1 token.")
            return
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user is named {options['username']!r}.") from None
        if action == "create":
            _, text = issue_token(user, options["name"])
            self.stderr.write("Copy this token now; it is not shown again:")
            self.stdout.write(text)
            return
        for token in user.api_tokens.order_by("created_at"):
            state = "revoked" if token.revoked else "active"
            self.stdout.write(f"{token.prefix}  {token.name}  {token.created_at:%Y-%m-%d}  {state}")
