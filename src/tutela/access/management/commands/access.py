"""`tutela access`: list roles and user groups, and give users their role and user groups.

An operator runs it on the server. Every change is written to the audit log with the actor
"command line". With --as, the change is made as that user, whose role limits the roles granted.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.access import actions
from tutela.access.models import Role, User, UserGroup
from tutela.access.synthetic import assign_synthetic_access


class Command(BaseCommand):
    help = (
        "List roles and user groups, show a user's access, give a user a role or user groups, "
        "or give the synthetic users of a demo site their roles and groups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        commands.add_parser("roles", help="List the roles with their scope and MFA requirement.")
        commands.add_parser("groups", help="List the user groups with their members' count.")
        show = commands.add_parser("show", help="Show a user's agency, role and user groups.")
        show.add_argument("username")
        role = commands.add_parser("set-role", help="Give a user a role (replacing the old one).")
        role.add_argument("username")
        role.add_argument("role", help="The role's unique_id, or 'none' to take the role away")
        role.add_argument("--as", dest="actor", help="Act as this user, limited by their role")
        groups = commands.add_parser("set-groups", help="Put a user in exactly these groups.")
        groups.add_argument("username")
        groups.add_argument("groups", nargs="*", help="User group unique_ids; none to empty")
        groups.add_argument("--as", dest="actor", help="Act as this user, limited by their role")
        commands.add_parser(
            "synthetic",
            help="Give the synthetic caseworkers of a demo site roles and user groups, and "
            "create a synthetic manager per group and a synthetic administrator. Records are "
            "not changed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "roles":
            self.list_roles()
        elif action == "groups":
            self.list_groups()
        elif action == "synthetic":
            summary = assign_synthetic_access()
            self.stdout.write(
                f"{summary.caseworkers} caseworkers in {summary.groups} user groups, "
                f"{summary.managers} managers, 1 administrator."
            )
        else:
            self.change_user(action, options)

    def change_user(self, action: str, options: dict[str, Any]) -> None:
        user = find_user(options["username"])
        actor = find_user(options["actor"]) if options.get("actor") else None
        try:
            if action == "set-role":
                wanted = None if options["role"] == "none" else options["role"]
                actions.set_role(actor, user, wanted)
            elif action == "set-groups":
                actions.set_user_groups(actor, user, options["groups"])
        except (actions.AccessDenied, actions.AccessChangeInvalid) as e:
            raise CommandError(str(e)) from None
        self.show_user(user)

    def show_user(self, user: User) -> None:
        user.refresh_from_db()
        groups = ", ".join(
            user.user_groups.order_by("unique_id").values_list("unique_id", flat=True)
        )
        self.stdout.write(f"user:   {user.username}")
        self.stdout.write(f"agency: {user.agency.unique_id if user.agency else '-'}")
        self.stdout.write(f"role:   {user.role.unique_id if user.role else '-'}")
        self.stdout.write(f"groups: {groups or '-'}")

    def list_roles(self) -> None:
        for role in Role.objects.order_by("unique_id"):
            state = " (disabled)" if role.disabled else ""
            mfa = "MFA required" if role.mfa_required else "MFA optional"
            self.stdout.write(f"{role.unique_id}  scope={role.record_scope}  {mfa}{state}")

    def list_groups(self) -> None:
        for group in UserGroup.objects.order_by("unique_id"):
            state = " (disabled)" if group.disabled else ""
            self.stdout.write(f"{group.unique_id}  {group.users.count()} users{state}")


def find_user(username: str) -> User:
    try:
        return User.objects.select_related("agency", "role").get(username=username)
    except User.DoesNotExist:
        raise CommandError(f"No user is named {username!r}.") from None
