"""Roles and user groups in a configuration document: checking, loading and dumping them.

A document may carry

    "roles": [{"unique_id": "caseworker", "name": {"en": "Caseworker"},
               "permissions": {"case": ["read", "write"]}, "record_scope": "own",
               "form_sections": {"case_closure": "read"}, "form_section_default": "write",
               "grantable_roles": [], "mfa_required": false}],
    "user_groups": [{"unique_id": "team-north", "name": {"en": "North team"},
                     "agencies": ["agency-one"]}]

Loading updates or creates each item by unique_id and never deletes: a role or group that the
document no longer lists is disabled, so the users who hold it keep a valid reference.
"""

from typing import Any

from tutela.access import permissions
from tutela.access.models import (
    Agency,
    RecordScope,
    Role,
    SectionAccess,
    UserGroup,
    needs_mfa_by_default,
)

ROLE_KEYS = frozenset(
    {
        "unique_id",
        "name",
        "description",
        "permissions",
        "record_scope",
        "form_sections",
        "form_section_default",
        "grantable_roles",
        "mfa_required",
        "disabled",
    }
)
USER_GROUP_KEYS = frozenset({"unique_id", "name", "description", "agencies", "disabled"})


def check_roles(roles: Any, record_types: list[str]) -> list[tuple[str, str]]:
    """Return (path, message) for each problem in a document's roles; empty when valid."""
    if not isinstance(roles, list):
        return [("roles", "must be a list of roles.")]
    problems: list[tuple[str, str]] = []
    ids = {role.get("unique_id") for role in roles if isinstance(role, dict)}
    for index, role in enumerate(roles):
        path = f"roles[{index}]"
        if not isinstance(role, dict):
            problems.append((path, "must be an object."))
            continue
        path = f"roles[{role.get('unique_id', index)!s}]"
        for key in sorted(set(role) - ROLE_KEYS):
            problems.append(
                (
                    f"{path}.{key}",
                    f"is not a known property of a role; allowed: {', '.join(sorted(ROLE_KEYS))}.",
                )
            )
        problems += _check_role(role, path, record_types, ids)
    return problems


def _check_role(
    role: dict[str, Any], path: str, record_types: list[str], ids: set[Any]
) -> list[tuple[str, str]]:
    problems = []
    for message in permissions.check_permissions(role.get("permissions", {}), record_types):
        problems.append((f"{path}.permissions", message))
    for message in permissions.check_form_sections(role.get("form_sections", {})):
        problems.append((f"{path}.form_sections", message))
    scope = role.get("record_scope", RecordScope.OWN.value)
    if scope not in RecordScope.values:
        problems.append(
            (f"{path}.record_scope", f"is {scope!r}; use one of {', '.join(RecordScope.values)}.")
        )
    default = role.get("form_section_default", SectionAccess.WRITE.value)
    if default not in SectionAccess.values:
        problems.append(
            (f"{path}.form_section_default", f"is {default!r}; use write, read or hidden.")
        )
    grantable = role.get("grantable_roles", [])
    if not isinstance(grantable, list):
        problems.append((f"{path}.grantable_roles", "must be a list of role unique_ids."))
    else:
        for other in grantable:
            if other not in ids:
                problems.append(
                    (f"{path}.grantable_roles", f"{other!r} is not a role of this document.")
                )
    for key in ("mfa_required", "disabled"):
        if key in role and not isinstance(role[key], bool):
            problems.append((f"{path}.{key}", f"must be true or false, not {role[key]!r}."))
    return problems


def check_user_groups(groups: Any) -> list[tuple[str, str]]:
    """Return (path, message) for each problem in a document's user groups."""
    if not isinstance(groups, list):
        return [("user_groups", "must be a list of user groups.")]
    problems: list[tuple[str, str]] = []
    for index, group in enumerate(groups):
        path = f"user_groups[{index}]"
        if not isinstance(group, dict) or not isinstance(group.get("unique_id"), str):
            problems.append((path, "must be an object with a unique_id."))
            continue
        for key in sorted(set(group) - USER_GROUP_KEYS):
            problems.append(
                (
                    f"{path}.{key}",
                    "is not a known property of a user group; allowed: "
                    f"{', '.join(sorted(USER_GROUP_KEYS))}.",
                )
            )
        agencies = group.get("agencies", [])
        if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
            problems.append((f"{path}.agencies", "must be a list of agency unique_ids."))
    return problems


def apply_roles(roles: list[dict[str, Any]]) -> int:
    """Create or update each role by unique_id; disable the roles the document omits."""
    saved = {doc["unique_id"]: apply_role(doc) for doc in roles}
    for doc in roles:
        wanted = [saved[other] for other in doc.get("grantable_roles", [])]
        saved[doc["unique_id"]].grantable_roles.set(wanted)
    Role.objects.exclude(unique_id__in=list(saved)).update(disabled=True)
    return len(saved)


def apply_role(doc: dict[str, Any]) -> Role:
    """Create or update one role from its document, all but its grantable roles."""
    role = Role.objects.filter(unique_id=doc["unique_id"]).first() or Role(
        unique_id=doc["unique_id"]
    )
    role.name = doc.get("name", {})
    role.description = doc.get("description", {})
    role.permissions = doc.get("permissions", {})
    role.record_scope = doc.get("record_scope", RecordScope.OWN.value)
    role.form_sections = doc.get("form_sections", {})
    role.form_section_default = doc.get("form_section_default", SectionAccess.WRITE.value)
    role.mfa_required = doc.get("mfa_required", needs_mfa_by_default(role.permissions))
    role.disabled = doc.get("disabled", False)
    role.save()
    return role


def apply_user_groups(groups: list[dict[str, Any]]) -> int:
    """Create or update each user group by unique_id; disable the groups the document omits.

    An agency the site does not have yet is created with the unique_id as its name.
    """
    for doc in groups:
        group, _ = UserGroup.objects.update_or_create(
            unique_id=doc["unique_id"],
            defaults={
                "name": doc.get("name", {}),
                "description": doc.get("description", {}),
                "disabled": doc.get("disabled", False),
            },
        )
        agencies = [
            Agency.objects.get_or_create(unique_id=code, defaults={"name": {"en": code}})[0]
            for code in doc.get("agencies", [])
        ]
        group.agencies.set(agencies)
    UserGroup.objects.exclude(unique_id__in=[g["unique_id"] for g in groups]).update(disabled=True)
    return len(groups)


def dump_roles() -> list[dict[str, Any]]:
    return [
        {
            "unique_id": role.unique_id,
            "name": role.name,
            "description": role.description,
            "permissions": role.permissions,
            "record_scope": role.record_scope,
            "form_sections": role.form_sections,
            "form_section_default": role.form_section_default,
            "grantable_roles": sorted(r.unique_id for r in role.grantable_roles.all()),
            "mfa_required": role.mfa_required,
            "disabled": role.disabled,
        }
        for role in Role.objects.order_by("unique_id").prefetch_related("grantable_roles")
    ]


def dump_user_groups() -> list[dict[str, Any]]:
    return [
        {
            "unique_id": group.unique_id,
            "name": group.name,
            "description": group.description,
            "agencies": sorted(a.unique_id for a in group.agencies.all()),
            "disabled": group.disabled,
        }
        for group in UserGroup.objects.order_by("unique_id").prefetch_related("agencies")
    ]
