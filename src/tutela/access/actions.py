"""Changes to who may do what: giving users roles and user groups, and referring records.

Each action checks the acting user's permission, changes the data and writes its audit entry
in one transaction. The acting user may be None for the command line run by an operator with
shell access to the server, which `tutela` commands record as such in the audit log.
"""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tutela.access.models import Referral, Role, User, UserGroup
from tutela.access.permissions import can, forget_cached_access, record_scope
from tutela.audit.log import record_event
from tutela.audit.models import Outcome
from tutela.records.models import Record


class AccessDenied(PermissionError):
    """The acting user may not make this change; the message names the missing permission."""


class AccessChangeInvalid(ValueError):
    """The change names a role, group or user that is missing or unusable, as the message says."""


def grantable_roles(actor: User | None) -> set[str]:
    """Return the unique_ids of the roles `actor` may give; every role for the command line."""
    if actor is None or (actor.is_active and actor.is_superuser):
        return set(Role.objects.values_list("unique_id", flat=True))
    if actor.role is None or actor.role.disabled or not can(actor, "user", "write"):
        return set()
    return set(actor.role.grantable_roles.values_list("unique_id", flat=True))


def set_role(actor: User | None, user: User, role_id: str | None) -> None:
    """Give `user` the role `role_id`, or no role for None.

    A manager may give, and take away, only the roles their own role lists as grantable.
    """
    allowed = grantable_roles(actor)
    if role_id is not None:
        role = Role.objects.filter(unique_id=role_id).first()
        if role is None:
            raise AccessChangeInvalid(_("No role has the unique_id %(role)r.") % {"role": role_id})
        if role.disabled:
            raise AccessChangeInvalid(
                _("The role %(role)r is disabled; enable it first.") % {"role": role_id}
            )
    else:
        role = None
    old = user.role.unique_id if user.role else None
    for needed in (old, role_id):
        if needed is not None and needed not in allowed:
            _deny(
                actor,
                "user.role_change",
                user,
                _("Your role may not grant the role %(role)r.") % {"role": needed},
            )

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(role=role)
        user.role = role
        record_event(
            "user.role_change",
            user=actor,
            actor_name="" if actor else "command line",
            object_type="user",
            object_id=user.pk,
            details={"old": old, "new": role_id},
        )


def set_user_groups(actor: User | None, user: User, group_ids: Iterable[str]) -> None:
    """Put `user` in exactly the user groups `group_ids`."""
    if actor is not None and not can(actor, "user", "write"):
        _deny(actor, "user.groups_change", user, _("Your role may not change users."))
    wanted = sorted(set(group_ids))
    groups = list(UserGroup.objects.filter(unique_id__in=wanted))
    missing = sorted(set(wanted) - {g.unique_id for g in groups})
    if missing:
        raise AccessChangeInvalid(
            _("No user group has the unique_id %(groups)s.") % {"groups": ", ".join(missing)}
        )
    old = sorted(user.user_groups.values_list("unique_id", flat=True))

    with transaction.atomic():
        user.user_groups.set(groups)
        forget_cached_access(user)
        record_event(
            "user.groups_change",
            user=actor,
            actor_name="" if actor else "command line",
            object_type="user",
            object_id=user.pk,
            details={"old": old, "new": wanted},
        )


def refer_record(actor: User, record: Record, recipient: User) -> Referral:
    """Refer `record` to `recipient`, who may then read it with their role's section access."""
    record_type = record.record_type.unique_id
    if not can(actor, record_type, "refer"):
        _deny(actor, f"{record_type}.refer", record, f"Your role may not refer a {record_type}.")
    if not Record.objects.filter(record_scope(actor, record_type), pk=record.pk).exists():
        _deny(actor, f"{record_type}.refer", record, f"You may not see this {record_type}.")
    if not recipient.is_active:
        raise AccessChangeInvalid(f"The user {recipient.username!r} is not active.")
    if not can(recipient, record_type, "read"):
        raise AccessChangeInvalid(
            f"The role of {recipient.username!r} does not allow reading a {record_type}; "
            "give them a role that does, or refer it to someone else."
        )

    with transaction.atomic():
        referral = Referral.objects.filter(record=record, recipient=recipient, active=True).first()
        if referral is None:
            referral = Referral.objects.create(
                record=record, recipient=recipient, referred_by=actor, referred_at=timezone.now()
            )
            forget_cached_access(recipient)
        record_event(
            f"{record_type}.refer",
            user=actor,
            object_type=record_type,
            object_id=record.pk,
            details={"recipient": recipient.pk},
        )
    return referral


def _deny(actor: Any, action: str, target: Any, message: str) -> None:
    """Audit a refused change, then raise AccessDenied with `message`."""
    record_event(
        action,
        user=actor,
        object_type=type(target).__name__.lower(),
        object_id=target.pk,
        outcome=Outcome.DENIED,
        details={"reason": "permission"},
    )
    raise AccessDenied(message)
