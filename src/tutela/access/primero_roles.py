"""Primero v2 roles and user groups, converted to Tutela roles and user groups.

Each Primero role becomes a Tutela role of the same unique_id:

- permissions: the resources and actions Tutela has keep their meaning (`referral` becomes
  `refer`, `enable_disable_record` becomes `disable`, `export_xls` becomes `export_xlsx`,
  `close` and `reopen` become `write`, `metadata` and `primero_configuration` become
  `configuration`); the others (dashboards, duplicates, matching, Primero's special exports
  and views) are dropped, and the report names them;
- `group_permission`: all, group and agency keep their meaning; "self" or none becomes own;
- form sections: `form_section_read_write: "all"` makes every section writable;
  `form_section_unique_ids` makes those sections writable (or read only where
  `form_section_read_write` says "r") and hides the rest;
- `permissions.objects.role` lists the roles it may grant.

The converter reports every change through `tracker` (see tutela.configuration.primero).
"""

from typing import Any, Protocol

from django.db import transaction

from tutela.access.configuration import apply_role
from tutela.access.models import Role, UserGroup
from tutela.access.permissions import ACTIONS, RESOURCES

RESOURCE_NAMES = {
    "metadata": "configuration",
    "primero_configuration": "configuration",
}
ACTION_NAMES = {
    "referral": "refer",
    "enable_disable_record": "disable",
    "export_xls": "export_xlsx",
    "close": "write",
    "reopen": "write",
    "search_owned_by_others": "search_others",
    "assign_within_agency": "assign",
    "assign_within_user_group": "assign",
    "approve_case_plan": "approve",
    "approve_closure": "approve",
    "approve_assessment": "approve",
    "request_approval_case_plan": "request_approval",
    "request_approval_closure": "request_approval",
    "request_approval_assessment": "request_approval",
}
SCOPES = {"all": "all", "group": "group", "agency": "agency", "self": "own"}


class Tracker(Protocol):
    def seen(self, kind: str, name: str) -> None: ...

    def change(self, kind: str, name: str, note: str) -> None: ...

    def skip(self, kind: str, name: str, reason: str) -> None: ...


def convert_roles(
    raw_roles: list[Any], section_ids: dict[str, str], tracker: Tracker, kind: str
) -> list[dict[str, Any]]:
    """Return Tutela role documents for the Primero roles; `section_ids` maps each Primero
    form section id to the unique_id it was imported under."""
    roles = []
    for index, raw in enumerate(raw_roles):
        unique_id = raw.get("unique_id") if isinstance(raw, dict) else None
        if not isinstance(unique_id, str) or not unique_id:
            tracker.skip(kind, f"#{index + 1}", "has no unique_id")
            continue
        tracker.seen(kind, unique_id)
        roles.append(convert_role(raw, unique_id, section_ids, tracker, kind))
    known = {role["unique_id"] for role in roles}
    for role in roles:
        missing = sorted(set(role["grantable_roles"]) - known)
        if missing:
            tracker.change(
                kind, role["unique_id"], f"may not grant {', '.join(missing)}: not in the file"
            )
            role["grantable_roles"] = [r for r in role["grantable_roles"] if r in known]
    return roles


def convert_role(
    raw: dict[str, Any], unique_id: str, section_ids: dict[str, str], tracker: Tracker, kind: str
) -> dict[str, Any]:
    name = raw.get("name")
    permissions, grantable, dropped = convert_permissions(raw.get("permissions") or {})
    if dropped:
        tracker.change(kind, unique_id, f"permissions not kept: {', '.join(dropped)}")
    scope = SCOPES.get(str(raw.get("group_permission") or "self"))
    if scope is None:
        tracker.change(
            kind, unique_id, f"group_permission {raw.get('group_permission')!r} became own"
        )
        scope = "own"
    sections, default = convert_sections(raw, section_ids, tracker, kind, unique_id)
    return {
        "unique_id": unique_id,
        "name": {"en": name} if isinstance(name, str) and name else {"en": unique_id},
        "permissions": permissions,
        "record_scope": scope,
        "form_sections": sections,
        "form_section_default": default,
        "grantable_roles": grantable,
    }


def convert_permissions(raw: dict[str, Any]) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Return Tutela permissions, the roles it may grant and the "resource:action" pairs dropped."""
    permissions: dict[str, list[str]] = {}
    dropped = []
    objects = raw.get("objects")
    roles = objects.get("role", []) if isinstance(objects, dict) else []
    grantable = [r for r in roles if isinstance(r, str)]
    for resource, actions in raw.items():
        if resource == "objects" or not isinstance(actions, list):
            continue
        target = RESOURCE_NAMES.get(resource, resource)
        if target not in RESOURCES:
            dropped.append(resource)
            continue
        for action in actions:
            mapped = ACTION_NAMES.get(action, action)
            if mapped not in ACTIONS:
                dropped.append(f"{resource}:{action}")
                continue
            kept = permissions.setdefault(target, [])
            if mapped not in kept:
                kept.append(mapped)
    return permissions, grantable, dropped


def convert_sections(
    raw: dict[str, Any], section_ids: dict[str, str], tracker: Tracker, kind: str, unique_id: str
) -> tuple[dict[str, str], str]:
    """Return the role's access per form section and its access to unlisted sections."""
    read_write = raw.get("form_section_read_write")
    listed = raw.get("form_section_unique_ids")
    if read_write == "all":
        return {}, "write"
    if not isinstance(listed, list):
        if isinstance(read_write, dict):
            listed = list(read_write)
        else:
            tracker.change(kind, unique_id, "lists no form sections, so every section is hidden")
            return {}, "hidden"
    access = read_write if isinstance(read_write, dict) else {}
    sections = {}
    for primero_id in listed:
        target = section_ids.get(str(primero_id))
        if target is None:
            tracker.change(kind, unique_id, f"form section {primero_id!r} is not in the file")
            continue
        sections[target] = "read" if access.get(primero_id) == "r" else "write"
    return sections, "hidden"


def convert_user_groups(raw_groups: list[Any], tracker: Tracker, kind: str) -> list[dict[str, Any]]:
    groups = []
    for index, raw in enumerate(raw_groups):
        unique_id = raw.get("unique_id") if isinstance(raw, dict) else None
        if not isinstance(unique_id, str) or not unique_id:
            tracker.skip(kind, f"#{index + 1}", "has no unique_id")
            continue
        tracker.seen(kind, unique_id)
        name = raw.get("name")
        description = raw.get("description")
        groups.append(
            {
                "unique_id": unique_id,
                "name": {"en": name} if isinstance(name, str) and name else {"en": unique_id},
                "description": {"en": description} if isinstance(description, str) else {},
            }
        )
    return groups


@transaction.atomic
def save_roles_and_groups(roles: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
    """Create or update the converted roles and user groups by unique_id. Roles and groups the
    file leaves out, such as Tutela's default roles, stay as they are."""
    for doc in groups:
        UserGroup.objects.update_or_create(
            unique_id=doc["unique_id"],
            defaults={"name": doc["name"], "description": doc["description"]},
        )
    saved = {doc["unique_id"]: apply_role(doc) for doc in roles}
    for doc in roles:
        grantable = Role.objects.filter(unique_id__in=doc["grantable_roles"])
        saved[doc["unique_id"]].grantable_roles.set(grantable)
