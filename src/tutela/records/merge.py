"""Edit conflicts: what a save made against an older version changes, set beside the saves since.

A user reads a record at version B and saves at a moment the record is at version C > B. The
values at B are rebuilt from the history rows after B (`values_at_version`). Then, field by
field (`merge`):

- changed by the user only: the user's value is applied on top of version C;
- changed by the others only: their value stays;
- changed by both to the same value: nothing to do;
- changed by both to different values: a conflict, which the user resolves field by field.

A subform is one field: its rows are compared as a whole, never merged row by row.
"""

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tutela.configuration.forms import FormDefinition
from tutela.configuration.models import Field
from tutela.records.models import Record, RecordHistory
from tutela.records.validation import is_empty


def values_at_version(record: Record, version: int) -> dict[str, Any]:
    """Rebuild the record's form values as they were at `version` from its history rows."""
    values: dict[str, Any] = copy.deepcopy(record.data)
    later = (
        RecordHistory.objects.filter(record=record, version__gt=version)
        .order_by("-version")
        .values_list("changes", flat=True)
    )
    for changes in later:
        for name, change in changes.items():
            if name.startswith("$"):
                continue
            old = change.get("old")
            if old is None:
                values.pop(name, None)
            else:
                values[name] = old
    return values


def comparable(form: FormDefinition, f: Field | None, value: Any) -> Any:
    """Return `value` in a form that compares equal whenever two values mean the same.

    Moments are compared in UTC to the minute (what a form input holds), the options of a
    multi-select in any order, subform rows without their calculated values.
    """
    if is_empty(value):
        return None
    if f is None:
        return value
    if f.type == "date_time" and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:
            return value
        return moment.astimezone(dt.UTC).replace(second=0, microsecond=0).isoformat()
    if f.type == "select" and f.spec.get("multi") and isinstance(value, list):
        return sorted(str(v) for v in value)
    if f.type == "subform" and isinstance(value, list) and f.spec.get("subform") in form.subforms:
        subform = form.subform_of(f)
        rows = []
        for row in value:
            if not isinstance(row, dict):
                rows.append(row)
                continue
            kept = {}
            for key, item in row.items():
                sub = subform.by_name.get(key)
                if sub is not None and sub.type == "calculated":
                    continue
                normal = comparable(form, sub, item)
                if normal is not None:
                    kept[key] = normal
            rows.append(kept)
        return rows
    return value


def same_value(form: FormDefinition, name: str, a: Any, b: Any) -> bool:
    f = form.fields.get(name) or form.archived_fields.get(name)
    return bool(comparable(form, f, a) == comparable(form, f, b))


@dataclass
class FieldConflict:
    name: str
    base: Any
    mine: Any
    theirs: Any


@dataclass
class Merge:
    # The user's changes that no other save made, to apply on top of the newer version.
    changes: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)
    # Fields only the others changed: their values stay.
    kept_theirs: list[str] = field(default_factory=list)
    # Fields both changed to the same value.
    agreed: list[str] = field(default_factory=list)


def merge(
    form: FormDefinition,
    base: dict[str, Any],
    mine: dict[str, Any],
    theirs: dict[str, Any],
    names: Iterable[str] | None = None,
) -> Merge:
    """Merge the user's values `mine` (read at `base`) with the current values `theirs`.

    `names` are the fields of the user's form, by default the keys of `mine`. A field outside
    the form is not the user's to change, so it is left out.
    """
    result = Merge()
    for name in names if names is not None else mine:
        was, ours, now = base.get(name), mine.get(name), theirs.get(name)
        i_changed = not same_value(form, name, ours, was)
        they_changed = not same_value(form, name, now, was)
        if i_changed and they_changed:
            if same_value(form, name, ours, now):
                result.agreed.append(name)
            else:
                result.conflicts.append(FieldConflict(name, was, ours, now))
        elif i_changed:
            result.changes[name] = ours
        elif they_changed:
            result.kept_theirs.append(name)
    return result


@dataclass
class OtherSave:
    """A save made after the user read the record: its author, time and changed fields."""

    username: str
    at: dt.datetime
    fields: list[str]


def saves_since(record: Record, version: int) -> list[OtherSave]:
    """Return the saves after `version`, oldest first."""
    rows = (
        RecordHistory.objects.filter(record=record, version__gt=version)
        .select_related("user")
        .order_by("version")
    )
    return [
        OtherSave(row.user.get_username() if row.user else "", row.at, list(row.changes))
        for row in rows
    ]
