"""`tutela user create|invite|reset`: accounts that start from an emailed set-password link."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tutela.access.actions import AccessChangeInvalid, set_role
from tutela.access.models import Agency, User
from tutela.signin import onboarding


class Command(BaseCommand):
    help = (
        "Create a user and email them a single-use link to choose a password and set up "
        "two-factor authentication, or send an existing user a new link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a user and send the welcome email.")
        create.add_argument("username")
        create.add_argument("--email", required=True, help="Where the welcome email goes")
        languages = [code for code, _ in settings.LANGUAGES]
        create.add_argument(
            "--locale", default="en", choices=languages, help="Language of the user and email"
        )
        create.add_argument("--first-name", default="")
        create.add_argument("--last-name", default="")
        create.add_argument("--agency", default="", help="The unique_id of the user's agency")
        create.add_argument("--role", default="", help="The unique_id of the user's role")
        invite = actions.add_parser("invite", help="Send a user a new welcome link.")
        invite.add_argument("username")
        reset = actions.add_parser("reset", help="Send a user a password reset link.")
        reset.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            user = self.create(options)
            purpose = onboarding.Purpose.ONBOARDING
        else:
            user = self.find(options["username"])
            purpose = (
                onboarding.Purpose.ONBOARDING
                if options["action"] == "invite"
                else onboarding.Purpose.PASSWORD_RESET
            )
        self.send(user, purpose)

    def create(self, options: dict[str, Any]) -> User:
        agency = None
        if options["agency"]:
            agency = Agency.objects.filter(unique_id=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency has the unique_id {options['agency']!r}.")
        try:
            with transaction.atomic():
                user = onboarding.create_user(
                    options["username"],
                    options["email"],
                    locale=options["locale"],
                    first_name=options["first_name"],
                    last_name=options["last_name"],
                    agency=agency,
                )
                if options["role"]:
                    set_role(None, user, options["role"])
        except ValidationError as e:
            problems = "; ".join(f"{field}: {' '.join(m)}" for field, m in e.message_dict.items())
            raise CommandError(f"The user was not created: {problems}") from None
        except AccessChangeInvalid as e:
            raise CommandError(f"The user was not created: {e}") from None
        self.stdout.write(f"Created the user {user.username}.")
        return user

    def find(self, username: str) -> User:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user is named {username!r}.") from None

    def send(self, user: User, purpose: str) -> None:
        # The command that sends this link again once the mail settings are fixed.
        again = "reset" if purpose == onboarding.Purpose.PASSWORD_RESET else "invite"
        try:
            onboarding.send_link(user, purpose)
        except OSError as e:  # smtplib and ssl errors are OSErrors (some also ValueErrors)
            raise CommandError(
                f"The email to {user.username} could not be sent ({type(e).__name__}: {e}). "
                f"Check the TUTELA_SMTP_* settings, then run: tutela user {again} {user.username}"
            ) from None
        except ValueError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"Sent the link to {user.username} at {user.email}.")
