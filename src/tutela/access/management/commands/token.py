"""`tutela token create|list|revoke`: API tokens for integrations."""

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.access.models import ApiToken, User
from tutela.access.tokens import issue_token
from tutela.audit.log import record_event


def audit_token(action: str, prefix: str, user_id: int | None = None) -> None:
    """Record a token created or revoked from the command line; never the token itself."""
    details = {"via": "cli", **({"user": user_id} if user_id is not None else {})}
    record_event(
        action,
        actor_name=f"cli:{getpass.getuser()}",
        object_type="api_token",
        object_id=prefix,
        details=details,
    )


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
            audit_token("token.revoke", options["prefix"])
            self.stdout.write("Revoked 1 token.")
            return
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user is named {options['username']!r}.") from None
        if action == "create":
            token, text = issue_token(user, options["name"])
            audit_token("token.create", token.prefix, user.pk)
            self.stderr.write("Copy this token now; it is not shown again:")
            self.stdout.write(text)
            return
        for token in user.api_tokens.order_by("created_at"):
            state = "revoked" if token.revoked else "active"
            self.stdout.write(f"{token.prefix}  {token.name}  {token.created_at:%Y-%m-%d}  {state}")
