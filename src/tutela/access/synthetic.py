"""Roles and user groups for the synthetic users of demo and benchmark sites.

The synthetic caseworkers (`synthetic-caseworker-0001`, ...) are put in user groups of
GROUP_SIZE, in the order of their names; each group gets a synthetic manager, and the site one
synthetic administrator. Only users, user groups and roles are written: records keep their
owners and agencies, so this can run on a site seeded before roles existed.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction

from tutela.access.configuration import apply_role
from tutela.access.models import Agency, Role, User, UserGroup

DEFAULT_CONFIGURATION = (
    Path(__file__).resolve().parents[1] / "configuration" / "default" / "configuration.json"
)
CASEWORKER_PREFIX = "synthetic-caseworker-"
MANAGER_PREFIX = "synthetic-manager-"
ADMINISTRATOR = "synthetic-administrator"
GROUP_PREFIX = "synthetic-team-"
SYNTHETIC_AGENCY = "synthetic-agency"
# Caseworkers per user group: a manager with group scope sees about this many caseworkers' cases.
GROUP_SIZE = 10


@dataclass
class SyntheticAccess:
    caseworkers: int
    groups: int
    managers: int


def default_role_documents() -> list[dict[str, Any]]:
    document = json.loads(DEFAULT_CONFIGURATION.read_text(encoding="utf-8"))
    roles: list[dict[str, Any]] = document.get("roles", [])
    return roles


def ensure_default_roles() -> dict[str, Role]:
    """Create the default configuration's roles that the site lacks; change none that exist."""
    existing = {role.unique_id: role for role in Role.objects.all()}
    created = [doc for doc in default_role_documents() if doc["unique_id"] not in existing]
    for doc in created:
        existing[doc["unique_id"]] = apply_role(doc)
    for doc in created:
        grantable = [existing[r] for r in doc.get("grantable_roles", []) if r in existing]
        existing[doc["unique_id"]].grantable_roles.set(grantable)
    return existing


@transaction.atomic
def assign_synthetic_access() -> SyntheticAccess:
    """Give every synthetic caseworker the caseworker role and a user group; create the
    managers and the administrator. Running it again changes nothing."""
    roles = ensure_default_roles()
    agency, _ = Agency.objects.get_or_create(
        unique_id=SYNTHETIC_AGENCY, defaults={"name": {"en": "Synthetic agency"}}
    )
    caseworkers = list(
        User.objects.filter(username__startswith=CASEWORKER_PREFIX).order_by("username")
    )
    User.objects.filter(pk__in=[u.pk for u in caseworkers]).update(role=roles["caseworker"])

    groups = []
    for start in range(0, len(caseworkers), GROUP_SIZE):
        number = start // GROUP_SIZE + 1
        group, _ = UserGroup.objects.get_or_create(
            unique_id=f"{GROUP_PREFIX}{number:03d}",
            defaults={"name": {"en": f"Synthetic team {number}"}},
        )
        group.agencies.add(agency)
        manager = synthetic_user(f"{MANAGER_PREFIX}{number:03d}", agency, roles["manager"])
        group.users.add(*caseworkers[start : start + GROUP_SIZE], manager)
        groups.append(group)
    synthetic_user(ADMINISTRATOR, agency, roles["administrator"])
    return SyntheticAccess(len(caseworkers), len(groups), len(groups))


def synthetic_user(username: str, agency: Agency, role: Role) -> User:
    """Return the synthetic user `username` with `role`, created without a usable password."""
    user, _ = User.objects.get_or_create(
        username=username, defaults={"agency": agency, "password": make_password(None)}
    )
    if user.role_id != role.pk:
        User.objects.filter(pk=user.pk).update(role=role)
        user.role = role
    return user
