"""What a user may do, and which records and form sections they may see.

Every check of access goes through this module:

- `can(user, resource, action)` for an action on a resource ("case", "user", ...);
- `record_scope(user, record_type)` for the records a user may see, as a condition that the
  caller puts inside its database query, never as a filter applied in Python afterwards;
- `section_access(user, form, section)` for a form section: write, read or hidden.

A user's role decides all three. A superuser may do everything; a user without a role, with a
disabled role, or inactive, may do nothing.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from tutela.access.models import RecordScope, Referral, Role, SectionAccess, User
from tutela.configuration.forms import FormDefinition

RECORD_RESOURCES = ("case", "incident", "tracing_request", "family")
RESOURCES = (
    *RECORD_RESOURCES,
    "report",
    "user",
    "role",
    "agency",
    "user_group",
    "configuration",
    "audit_log",
    "system",
)
EXPORT_ACTIONS = ("export_csv", "export_json", "export_pdf", "export_xlsx")
ACTIONS = (
    "read",
    "create",
    "write",
    "disable",
    "flag",
    "assign",
    "refer",
    "transfer",
    "request_approval",
    "approve",
    *EXPORT_ACTIONS,
    # Learn that records beyond the role's scope exist: the registration page then names the
    # short ids of possible duplicates held by others. No list or search goes beyond the scope.
    "search_others",
    # Every action on the resource.
    "manage",
)
# Record types configured beyond the four standard ones are resources of their own name.
NOTHING = Q(pk__in=[])


def active_role(user: Any) -> Role | None:
    """Return the user's role when it applies: the user is active and the role enabled."""
    if not isinstance(user, User) or not user.is_active:
        return None
    role = user.role
    if role is None or role.disabled:
        return None
    return role


def can(user: Any, resource: str, action: str) -> bool:
    """Return whether `user` may perform `action` on `resource`."""
    if isinstance(user, User) and user.is_active and user.is_superuser:
        return True
    role = active_role(user)
    if role is None:
        return False
    allowed = role.permissions.get(resource) or []
    return action in allowed or "manage" in allowed


def scope_of(user: Any) -> str:
    """Return the user's record scope: own, group, agency or all."""
    if isinstance(user, User) and user.is_active and user.is_superuser:
        return RecordScope.ALL.value
    role = active_role(user)
    return role.record_scope if role is not None else RecordScope.OWN.value


# Attributes that keep a user's group members and referred records on the User instance, so
# that a page listing several record types reads them once. A request loads its user afresh.
GROUP_MEMBERS_CACHE = "_tutela_group_members"
REFERRED_CACHE = "_tutela_referred_records"


def group_member_ids(user: User) -> list[int]:
    """Return the ids of the users who share an enabled user group with `user`, `user`
    included."""
    cached: list[int] | None = getattr(user, GROUP_MEMBERS_CACHE, None)
    if cached is None:
        groups = user.user_groups.filter(disabled=False).values("pk")
        members = User.user_groups.through.objects.filter(usergroup_id__in=groups).values_list(
            "user_id", flat=True
        )
        cached = sorted({user.pk, *members})
        setattr(user, GROUP_MEMBERS_CACHE, cached)
    return cached


def referred_record_ids(user: User) -> list[Any]:
    """Return the ids of the records actively referred to `user`, of every record type."""
    cached: list[Any] | None = getattr(user, REFERRED_CACHE, None)
    if cached is None:
        cached = list(
            Referral.objects.filter(recipient_id=user.pk, active=True).values_list(
                "record_id", flat=True
            )
        )
        setattr(user, REFERRED_CACHE, cached)
    return cached


def forget_cached_access(user: User) -> None:
    """Drop the group members and referred records kept on `user`, after changing either."""
    for name in (GROUP_MEMBERS_CACHE, REFERRED_CACHE):
        if hasattr(user, name):
            delattr(user, name)


def record_scope(user: Any, record_type: str) -> Q:
    """Return a condition on Record that is true for the records of `record_type` that `user`
    may read. Callers filter by record type themselves; this condition does not.

    Group members and referred records are read here, in two small indexed queries, and sent
    as lists: `owner_id = ANY(...)` lets PostgreSQL use the record_owner_list index, where a
    correlated subquery would make it test every row.
    """
    if not can(user, record_type, "read"):
        return NOTHING
    scope = scope_of(user)
    if scope == RecordScope.ALL:
        return Q()

    condition = Q(owner_id=user.pk)
    if scope == RecordScope.GROUP:
        condition = Q(owner_id__in=group_member_ids(user))
    elif scope == RecordScope.AGENCY and user.agency_id is not None:
        condition |= Q(agency_id=user.agency_id)
    referred = referred_record_ids(user)
    if referred:
        condition |= Q(pk__in=referred)
    return condition


# More parts than this and one query serves better than one query per part.
MAX_SCOPE_PARTS = 50


def record_scope_parts(user: Any, record_type: str) -> list[Q]:
    """Return conditions whose union is `record_scope(user, record_type)`, one per group member
    and one for referred records, for scope "group"; an empty list for other scopes or for a
    group larger than MAX_SCOPE_PARTS. Searches use them to read each owner's newest records
    from the owner index (see tutela.records.search)."""
    if not can(user, record_type, "read") or scope_of(user) != RecordScope.GROUP:
        return []
    members = group_member_ids(user)
    if len(members) >= MAX_SCOPE_PARTS:
        return []
    parts = [Q(owner_id=member) for member in members]
    referred = referred_record_ids(user)
    if referred:
        parts.append(Q(pk__in=referred))
    return parts


def scope_by_type(user: Any, record_types: Iterable[str]) -> Q:
    """Return a condition for records of several types, each under its own scope."""
    condition = NOTHING
    for record_type in record_types:
        scope = record_scope(user, record_type)
        if scope != NOTHING:
            condition |= Q(record_type__unique_id=record_type) & scope
    return condition


def section_access(user: Any, form: FormDefinition, section_id: str) -> str:
    """Return "write", "read" or "hidden" for a form section of `form`'s record type."""
    record_type = form.record_type.unique_id
    if not can(user, record_type, "read"):
        return SectionAccess.HIDDEN.value
    role = active_role(user)
    if role is None:  # a superuser without a role
        access = SectionAccess.WRITE.value
    else:
        access = role.form_sections.get(section_id, role.form_section_default)
    if access == SectionAccess.WRITE and not can(user, record_type, "write"):
        return SectionAccess.READ.value
    return str(access)


def hidden_fields(user: Any, form: FormDefinition) -> set[str]:
    """Return the names of the top-level fields in sections hidden from `user`."""
    hidden: set[str] = set()
    for section in form.sections:
        if section_access(user, form, section.unique_id) == SectionAccess.HIDDEN:
            hidden.update(section.by_name)
    return hidden


def unwritable_fields(user: Any, form: FormDefinition, names: Iterable[str]) -> list[str]:
    """Return those of `names` that lie in a section `user` may not write, sorted.

    A name that is no field of the form is left to validation, which rejects it.
    """
    refused = []
    for name in names:
        section = form.section_of.get(name)
        if section is None:
            continue
        if section_access(user, form, section.unique_id) != SectionAccess.WRITE:
            refused.append(name)
    return sorted(refused)


def visible_data(user: Any, form: FormDefinition, data: dict[str, Any]) -> dict[str, Any]:
    """Return `data` without the values of sections hidden from `user`."""
    hidden = hidden_fields(user, form)
    if not hidden:
        return data
    return {name: value for name, value in data.items() if name not in hidden}


def check_permissions(permissions: Any, resources: Iterable[str] = RESOURCES) -> list[str]:
    """Return one message per problem in a role's `permissions` mapping; empty when valid."""
    known = set(resources) | set(RESOURCES)
    if not isinstance(permissions, dict):
        return ["permissions must map each resource to a list of actions."]
    problems = []
    for resource, actions in permissions.items():
        if resource not in known:
            problems.append(
                f"{resource!r} is not a resource; use one of {', '.join(sorted(known))}."
            )
            continue
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            problems.append(f"permissions[{resource!r}] must be a list of action names.")
            continue
        for action in actions:
            if action not in ACTIONS:
                problems.append(
                    f"{action!r} in permissions[{resource!r}] is not an action; "
                    f"use one of {', '.join(ACTIONS)}."
                )
    return problems


def check_form_sections(form_sections: Any) -> list[str]:
    """Return one message per problem in a role's section access mapping; empty when valid."""
    if not isinstance(form_sections, dict):
        return ["form_sections must map section unique_ids to write, read or hidden."]
    return [
        f"form_sections[{section!r}] is {access!r}; use write, read or hidden."
        for section, access in form_sections.items()
        if access not in SectionAccess.values
    ]
