"""The item-by-item difference between two snapshot contents, down to field properties."""

from dataclasses import dataclass
from typing import Any

from tutela.configuration.loading import field_unique_id


@dataclass
class FieldInfo:
    """A field of a configuration document, with where it sits."""

    record_type: str
    section: str
    # The names of the subform fields whose rows hold this field; empty for a top-level field.
    subform_parents: list[str]
    doc: dict[str, Any]


def index_items(content: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return {kind: {id: properties}} for every item of a snapshot content."""
    document = content["configuration"]
    items: dict[str, dict[str, dict[str, Any]]] = {
        kind: {}
        for kind in (
            "record_type",
            "form_group",
            "form_section",
            "field",
            "lookup",
            "option",
            "location",
            "agency",
            "role",
            "user_group",
        )
    }
    for record_type in document.get("record_types", []):
        rt = record_type["unique_id"]
        items["record_type"][rt] = _without(record_type, "form_groups", "form_sections")
        for group in record_type.get("form_groups", []):
            items["form_group"][f"{rt}.{group['unique_id']}"] = group
        for section in record_type.get("form_sections", []):
            items["form_section"][section["unique_id"]] = {
                **_without(section, "fields"),
                "record_type": rt,
            }
            for field in section.get("fields", []):
                key = field_unique_id(rt, section, field["name"])
                items["field"][key] = {**field, "section": section["unique_id"]}
    for lookup in document.get("lookups", []):
        items["lookup"][lookup["unique_id"]] = _without(lookup, "options")
        for position, option in enumerate(lookup.get("options", [])):
            items["option"][f"{lookup['unique_id']}:{option['id']}"] = {
                **option,
                "position": position,
            }
    for kind, section_name in (("role", "roles"), ("user_group", "user_groups")):
        for item in document.get(section_name, []):
            items[kind][item["unique_id"]] = item
    for kind, section_name in (("location", "locations"), ("agency", "agencies")):
        for item in content.get(section_name, []):
            items[kind][item["unique_id"]] = item
    return items


def _without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in keys}


def diff_contents(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every added, removed and changed item, with each changed property."""
    old_items, new_items = index_items(old), index_items(new)
    changes: list[dict[str, Any]] = []
    for kind, old_of_kind in old_items.items():
        new_of_kind = new_items[kind]
        for item_id in sorted(old_of_kind.keys() | new_of_kind.keys()):
            before, after = old_of_kind.get(item_id), new_of_kind.get(item_id)
            if before is None:
                changes.append({"kind": kind, "id": item_id, "change": "added"})
            elif after is None:
                changes.append({"kind": kind, "id": item_id, "change": "removed"})
            elif before != after:
                properties = {
                    key: {"old": before.get(key), "new": after.get(key)}
                    for key in sorted(before.keys() | after.keys())
                    if before.get(key) != after.get(key)
                }
                changes.append(
                    {"kind": kind, "id": item_id, "change": "changed", "properties": properties}
                )
    return changes


def fields_of(content: dict[str, Any]) -> dict[str, FieldInfo]:
    """Return every field by unique_id, with the subform fields that hold its rows."""
    fields: dict[str, FieldInfo] = {}
    for record_type in content["configuration"].get("record_types", []):
        rt = record_type["unique_id"]
        holders: dict[str, list[str]] = {}
        for section in record_type.get("form_sections", []):
            for field in section.get("fields", []):
                if field.get("type") == "subform" and field.get("subform"):
                    holders.setdefault(field["subform"], []).append(field["name"])
        for section in record_type.get("form_sections", []):
            parents = holders.get(section["unique_id"], []) if section.get("subform") else []
            for field in section.get("fields", []):
                key = field_unique_id(rt, section, field["name"])
                fields[key] = FieldInfo(rt, section["unique_id"], parents, field)
    return fields
