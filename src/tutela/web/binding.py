"""Posted form strings to the JSON values the record validator expects, and back.

This module alone defines how an HTML form encodes a field: every page that edits
record values binds through `bind_fields` and fills its inputs through `input_value`. What
cannot be converted is passed on as typed, so that the validator names the problem at the
field and the page shows the text the user wrote.

Input names: `f_<field>` for a field; `f_<field>.<option>` for one count of a tally;
`f_<subform>.<row>.<field>`, `f_<subform>.<row>.unique_id` and `f_<subform>.<row>.remove`
for the rows of a subform, numbered from 0 in the order shown. An attachment field posts the
ids of the files it keeps under its own name, the ids of those to drop under `<name>.remove`,
and new files under its own name too (the view stores them and adds their ids).
"""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils import timezone

from tutela.configuration.forms import FormDefinition, SectionDef
from tutela.configuration.models import ATTACHMENT_TYPES, Field
from tutela.records.validation import condition_holds, is_empty
from tutela.web.display import aware_moment

PREFIX = "f_"
NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
ROW_KEY = re.compile(r"^(?P<index>\d+)\.unique_id$")
# Types whose values are computed or shown only.
NOT_BOUND = frozenset({"separator", "calculated"})


def input_name(f: Field, prefix: str = "") -> str:
    return f"{prefix or PREFIX}{f.name}"


def row_prefix(subform_field: Field, index: int) -> str:
    return f"{PREFIX}{subform_field.name}.{index}."


def is_bound(f: Field) -> bool:
    return f.type not in NOT_BOUND and f.editable and f.section.editable


@dataclass
class Bound:
    """The values bound from one posted form, ready for create_record or update_record."""

    changes: dict[str, Any] = field(default_factory=dict)


def bind_fields(
    form: FormDefinition,
    sections: Iterable[SectionDef],
    post: QueryDict,
    current: dict[str, Any],
    overrides: dict[str, Any] | None = None,
) -> Bound:
    """Read the editable fields of `sections` from `post`.

    `overrides` replaces the posted values of some fields (the other person's values that a
    user chose in an edit conflict). A field hidden by its condition (skip logic), given the
    values after this change, takes no value: it is sent empty, which removes what it held.
    """
    bound = Bound()
    fields = [f for section in sections for f in section.fields if is_bound(f)]
    for f in fields:
        if overrides and f.name in overrides:
            bound.changes[f.name] = overrides[f.name]
            continue
        bound.changes[f.name] = bind_value(form, f, post, input_name(f), current.get(f.name))

    merged = {**current, **bound.changes}
    for f in fields:
        if not condition_holds(f.spec.get("visible_if"), merged):
            bound.changes[f.name] = None
    return bound


def bind_value(form: FormDefinition, f: Field, post: QueryDict, name: str, current: Any) -> Any:
    if f.type == "subform":
        return bind_rows(form, f, post, current)
    if f.type == "tally":
        return bind_tally(form, f, post, name)
    if f.type in ATTACHMENT_TYPES:
        dropped = set(post.getlist(f"{name}.remove"))
        kept = [v for v in post.getlist(name) if v and v not in dropped]
        return list(dict.fromkeys(kept)) or None
    if f.type == "select" and f.spec.get("multi"):
        return [v for v in post.getlist(name) if v] or None
    if f.type == "tick_box":
        # An unticked box posts nothing: it means "no" once the box has held a value, and
        # stays unanswered otherwise, so that opening and saving a form records nothing.
        if post.get(name):
            return True
        return False if current is not None else None
    text = post.get(name, "").strip()
    if not text:
        return None
    if f.type == "number":
        return to_number(text)
    if f.type == "date_time":
        return to_moment(text)
    return text


def to_number(text: str) -> int | float | str:
    """Read a whole or decimal number; a comma is a decimal separator (2,5) as in many
    locales. Text that is no number is returned as is, for the validator to reject."""
    if not NUMBER.match(text):
        return text
    number = float(text.replace(",", "."))
    return int(number) if number.is_integer() else number


def to_moment(text: str) -> str:
    """Read a `datetime-local` value (no offset) as a moment in the user's time zone."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment.isoformat()


def bind_tally(form: FormDefinition, f: Field, post: QueryDict, name: str) -> dict[str, Any] | None:
    counts: dict[str, Any] = {}
    for option in form.options(f) or []:
        text = post.get(f"{name}.{option['id']}", "").strip()
        if text:
            counts[option["id"]] = to_number(text)
    return counts or None


def bind_rows(
    form: FormDefinition, f: Field, post: QueryDict, current: Any
) -> list[dict[str, Any]] | None:
    """Read the rows of a subform: kept rows in the order shown, blank and removed ones left out.

    Values a stored row holds under names the subform no longer has are kept.
    NOTE: values of non-editable row fields are dropped, because the validator rejects any
    value sent for them; the default configuration has no such fields.
    """
    subform = form.subform_of(f)
    stored = {row.get("unique_id"): row for row in current or [] if isinstance(row, dict)}
    base = f"{PREFIX}{f.name}."
    indexes = sorted(
        int(match["index"])
        for key in post
        if key.startswith(base) and (match := ROW_KEY.match(key[len(base) :]))
    )

    rows: list[dict[str, Any]] = []
    for index in indexes:
        prefix = row_prefix(f, index)
        key = post.get(f"{prefix}unique_id", "").strip()
        if post.get(f"{prefix}remove"):
            continue
        old = stored.get(key, {})
        values: dict[str, Any] = {}
        for sub in subform.fields:
            if is_bound(sub):
                value = bind_value(form, sub, post, f"{prefix}{sub.name}", old.get(sub.name))
                values[sub.name] = value
        if key not in stored and all(is_empty(v) for v in values.values()):
            continue
        for sub in subform.fields:
            if not condition_holds(sub.spec.get("visible_if"), values):
                values[sub.name] = None
        kept = {k: v for k, v in old.items() if k not in values and k not in subform.by_name}
        row = {**kept, "unique_id": key, **values}
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows or None


# JSON values back to input strings, to fill a form.


def input_value(f: Field, value: Any) -> str | list[str]:
    """Return the string (or strings, for a multi-select) that an input shows for `value`."""
    if is_empty(value):
        return [] if f.type == "select" and f.spec.get("multi") else ""
    if f.type == "select" and f.spec.get("multi"):
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if f.type == "tick_box":
        return "on" if value is True else ""
    if f.type == "date_time":
        return local_input_moment(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def local_input_moment(value: Any) -> str:
    """Convert a stored ISO moment to a `datetime-local` value in the user's time zone."""
    moment = aware_moment(value)
    if moment is None:
        return str(value)
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def problems_by_input(problems: dict[str, list[str]]) -> dict[str, list[str]]:
    """Map validator paths (`name`, `rows[2].field`, `tally.option`) to input names."""
    mapped: dict[str, list[str]] = {}
    for path, messages in problems.items():
        match = re.match(r"^(?P<name>[a-z][a-z0-9_]*)\[(?P<index>\d+)\]\.(?P<sub>.+)$", path)
        if match:
            key = f"{PREFIX}{match['name']}.{match['index']}.{match['sub']}"
        else:
            key = f"{PREFIX}{path.split('.', 1)[0]}"
        mapped.setdefault(key, []).extend(messages)
    return mapped
