"""Edits to a configuration document, as the configuration screens make them.

Each function changes a document from `dump_configuration()` in place and does not touch the
database. `changes.change_configuration` loads the edited document, so every rule of
`schema.check_document` applies to a change made on screen exactly as to an imported file.
Functions that find an item return it with its path in the document (the path that problems
name), and raise ItemNotFound when it is not there.
"""

from dataclasses import dataclass
from typing import Any

# The languages Tutela's screens offer; every label can carry a text in each.
BASE_LOCALES = ("en", "fr", "es", "pt", "ar")


class ItemNotFound(LookupError):
    """The document has no item with the unique_id or name that was asked for."""


@dataclass
class Located:
    item: dict[str, Any]
    path: str
    # The list that contains the item, and its position there.
    siblings: list[dict[str, Any]]
    index: int


def _find(items: list[dict[str, Any]], key: str, value: str, path: str) -> Located:
    for index, item in enumerate(items):
        if item.get(key) == value:
            return Located(item, f"{path}[{index}]", items, index)
    raise ItemNotFound(f"{path} has no item with {key} {value!r}.")


def find_record_type(document: dict[str, Any], record_type: str) -> Located:
    return _find(document["record_types"], "unique_id", record_type, "record_types")


def find_group(document: dict[str, Any], record_type: str, group: str) -> Located:
    parent = find_record_type(document, record_type)
    groups = parent.item.setdefault("form_groups", [])
    return _find(groups, "unique_id", group, f"{parent.path}.form_groups")


def find_section(document: dict[str, Any], record_type: str, section: str) -> Located:
    parent = find_record_type(document, record_type)
    sections = parent.item.setdefault("form_sections", [])
    return _find(sections, "unique_id", section, f"{parent.path}.form_sections")


def find_field(document: dict[str, Any], record_type: str, section: str, name: str) -> Located:
    parent = find_section(document, record_type, section)
    fields = parent.item.setdefault("fields", [])
    return _find(fields, "name", name, f"{parent.path}.fields")


def find_lookup(document: dict[str, Any], lookup: str) -> Located:
    return _find(document.setdefault("lookups", []), "unique_id", lookup, "lookups")


def find_option(document: dict[str, Any], lookup: str, option: str) -> Located:
    parent = find_lookup(document, lookup)
    options = parent.item.setdefault("options", [])
    return _find(options, "id", option, f"{parent.path}.options")


def apply_patch(item: dict[str, Any], patch: dict[str, Any]) -> None:
    """Set each key of `patch` on `item`; a value of None removes the key."""
    for key, value in patch.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value


def append(siblings: list[dict[str, Any]], item: dict[str, Any], path: str) -> Located:
    """Add `item` at the end of `siblings`, with an order after every other one."""
    orders = [s["order"] for s in siblings if isinstance(s.get("order"), int)]
    item.setdefault("order", max(orders, default=0) + 1)
    siblings.append(item)
    return Located(item, f"{path}[{len(siblings) - 1}]", siblings, len(siblings) - 1)


def move(
    siblings: list[dict[str, Any]], item: dict[str, Any], step: int, *, renumber: bool = True
) -> bool:
    """Move `item` one place up (step -1) or down (step 1) among `siblings`, in display order.

    `siblings` is the ordered run the item moves within (the fields of a section, the sections
    of one form group). With `renumber`, every sibling gets `order` 1, 2, 3... in the new order.
    Return False when the item is already first or last.
    """
    position = siblings.index(item)
    target = position + step
    if not 0 <= target < len(siblings):
        return False
    siblings[position], siblings[target] = siblings[target], siblings[position]
    if renumber:
        for order, sibling in enumerate(siblings, start=1):
            sibling["order"] = order
    return True


def section_run(record_type: dict[str, Any], section: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the sections shown beside `section` (same group, not subforms), in display order."""
    group = section.get("form_group")
    run = [
        s
        for s in record_type.get("form_sections", [])
        if not s.get("subform") and s.get("form_group") == group
    ]
    return sorted(run, key=lambda s: (s.get("order", 0), s.get("unique_id", "")))


def move_section(record_type: dict[str, Any], section: dict[str, Any], step: int) -> bool:
    if section.get("subform"):
        return False
    return move(section_run(record_type, section), section, step)


def move_in_list(items: list[dict[str, Any]], item: dict[str, Any], step: int) -> bool:
    """Move `item` within a list that the document orders itself (fields, groups, options).

    The list is first sorted by `order`, where its items have one (a stable sort keeps the
    position of equal orders), so that position and `order` agree after the move.
    """
    has_orders = any("order" in i for i in items)
    if has_orders:
        items.sort(key=lambda i: i.get("order", 0))
    return move(items, item, step, renumber=has_orders)
