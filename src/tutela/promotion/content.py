"""The configuration content of a snapshot: what it holds, its hash, and how it is applied.

The content holds the configuration document (record types, form groups, sections, fields,
lookups, roles, user groups), the location tree and the agencies. Archived sections and fields,
and disabled locations, agencies, roles and user groups are left out: applying a snapshot
archives or disables whatever it does not hold, so a site that applies a snapshot and takes a
new one gets the same content, and the same id, back.

NOTE: reports and system settings do not exist in Tutela yet, so snapshots do not carry them.
"""

import hashlib
from typing import Any

from tutela.access.models import Agency, User
from tutela.configuration import loading
from tutela.configuration.models import Location
from tutela.lib.canonical import canonical_json

FORMAT = "tutela-snapshot/1"
SECTIONS = ("configuration", "locations", "agencies")


def current_content() -> dict[str, Any]:
    """Return this site's configuration in force as snapshot content."""
    return {
        "format": FORMAT,
        "configuration": _sorted_document(loading.dump_configuration()),
        "locations": _locations(),
        "agencies": _agencies(),
    }


def content_id(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def current_id() -> str:
    return content_id(current_content())


def _sorted_document(document: dict[str, Any]) -> dict[str, Any]:
    # Fields with equal `order` are listed in database id order, which differs between sites;
    # sorting by name as well gives every site the same bytes.
    for record_type in document["record_types"]:
        for section in record_type["form_sections"]:
            section["fields"].sort(key=lambda f: (f.get("order", 0), f["name"]))
        record_type["form_sections"].sort(key=lambda s: (s.get("order", 0), s["unique_id"]))
        record_type["form_groups"].sort(key=lambda g: (g.get("order", 0), g["unique_id"]))
    # Disabled roles and user groups are left out, like archived fields (see the module note).
    for key in ("roles", "user_groups"):
        if key in document:
            document[key] = [item for item in document[key] if not item.get("disabled")]
    return document


def _locations() -> list[dict[str, Any]]:
    return [
        {
            "unique_id": location.unique_id,
            "parent": location.parent.unique_id if location.parent else None,
            "admin_level": location.admin_level,
            "name": location.name,
        }
        for location in Location.objects.filter(disabled=False)
        .select_related("parent")
        .order_by("unique_id")
    ]


def _agencies() -> list[dict[str, Any]]:
    return [
        {"unique_id": agency.unique_id, "name": agency.name, "code": agency.code}
        for agency in Agency.objects.filter(disabled=False).order_by("unique_id")
    ]


def apply_content(content: dict[str, Any]) -> loading.LoadSummary:
    """Make `content` the configuration in force. The caller holds the transaction and locks.

    Items the content lacks are archived (sections, fields) or disabled (locations, agencies,
    roles, user groups), never deleted, so records and users that refer to them stay valid.
    Lookups the content lacks are deleted, as `load_configuration` does: records keep the
    option ids they hold.
    """
    # Agencies first: the user groups of the configuration document name them.
    _apply_locations(content["locations"])
    _apply_agencies(content["agencies"])
    return loading.load_configuration(content["configuration"])


def _apply_locations(items: list[dict[str, Any]]) -> None:
    saved: dict[str, Location] = {}
    for item in sorted(items, key=lambda i: (i["admin_level"], i["unique_id"])):
        parent = item["parent"]
        location, _ = Location.objects.update_or_create(
            unique_id=item["unique_id"],
            defaults={
                "admin_level": item["admin_level"],
                "name": item["name"],
                "parent": saved.get(parent) or Location.objects.get(unique_id=parent)
                if parent
                else None,
                "disabled": False,
            },
        )
        saved[location.unique_id] = location
    Location.objects.exclude(unique_id__in=saved).update(disabled=True)


def _apply_agencies(items: list[dict[str, Any]]) -> dict[str, Agency]:
    saved: dict[str, Agency] = {}
    for item in items:
        agency, _ = Agency.objects.update_or_create(
            unique_id=item["unique_id"],
            defaults={"name": item["name"], "code": item["code"], "disabled": False},
        )
        saved[agency.unique_id] = agency
    Agency.objects.exclude(unique_id__in=saved).update(disabled=True)
    return saved


def active_users_with_role(role_unique_id: str) -> int:
    return User.objects.filter(is_active=True, role__unique_id=role_unique_id).count()


def active_users_of_agency(agency_unique_id: str) -> int:
    return User.objects.filter(is_active=True, agency__unique_id=agency_unique_id).count()
