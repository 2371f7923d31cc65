"""The inputs of a generated record form: what the edit and registration templates render.

`build_inputs` turns the fields of some sections, the values to show and the validator's
problems into a list of `Input`s, one per field, each with its HTML name, widget, current
value as text, options, errors and help. A field with skip logic carries its condition and
starts hidden when the condition fails. static/web/tutela.js evaluates the conditions again as
the user changes the form, without a request, so nothing typed is ever replaced.
"""

import dataclasses
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from tutela.access.models import Agency, User
from tutela.attachments.actions import ACCEPTED_KINDS, max_upload_bytes
from tutela.attachments.models import Attachment
from tutela.configuration.forms import FormDefinition, SectionDef
from tutela.configuration.models import ATTACHMENT_TYPES, Field, Location, translate
from tutela.records.validation import condition_holds
from tutela.web import binding
from tutela.web.display import Display

WIDGETS = {
    "text": "text",
    "textarea": "textarea",
    "radio": "radio",
    "tick_box": "checkbox",
    "number": "number",
    "date": "date",
    "date_time": "datetime",
    "location": "select",
    "tally": "tally",
    "subform": "subform",
    "separator": "separator",
    "calculated": "readonly",
}
# What the file picker offers for each attachment type; the server checks the content anyway.
ACCEPT = {
    "photo": "image/jpeg,image/png,image/webp",
    "signature": "image/jpeg,image/png,image/webp",
    "audio": "audio/*",
    "document": ".pdf,.docx,.xlsx,.odt,.ods,image/jpeg,image/png,image/webp",
}


@dataclass
class Option:
    value: str
    label: str


@dataclass
class Input:
    field: Field
    name: str
    widget: str
    label: str
    help: str = ""
    value: str | list[str] = ""
    options: list[Option] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    required: bool = False
    # The skip-logic condition as JSON, for the page's script; hidden while it fails.
    condition: str = ""
    hidden: bool = False
    # Read-only text, for calculated values.
    text: str = ""
    # Attachments: the files the field holds, what the picker offers, whether it may add files.
    files: list[Attachment] = dataclasses.field(default_factory=list)
    accept: str = ""
    can_upload: bool = False
    # What the field takes and the size limit, in words.
    limits: str = ""
    # Tally: one (option label, input name, count) per option.
    counts: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    rows: list["Row"] = dataclasses.field(default_factory=list)
    inputmode: str = ""
    # In an edit conflict: the three values and the user's choice (views.editing.ConflictView).
    conflict: Any = None

    @property
    def id(self) -> str:
        return f"id_{self.name}"

    @property
    def values(self) -> list[str]:
        return self.value if isinstance(self.value, list) else [self.value]


@dataclass
class Row:
    prefix: str
    unique_id: str
    inputs: list[Input]
    blank: bool
    errors: list[str] = dataclasses.field(default_factory=list)


def condition_fields(condition: Any) -> set[str]:
    """Return the names of the fields a skip-logic condition reads."""
    if not isinstance(condition, dict):
        return set()
    names: set[str] = set()
    for key in ("and", "or"):
        for part in condition.get(key, []):
            names |= condition_fields(part)
    if "not" in condition:
        names |= condition_fields(condition["not"])
    if "field" in condition:
        names.add(condition["field"])
    return names


def controlling(fields: Iterable[Field]) -> set[str]:
    names: set[str] = set()
    for f in fields:
        names |= condition_fields(f.spec.get("visible_if"))
    return names


class OptionSource:
    """Options of select, radio and location fields, each kind read once per form."""

    def __init__(self, form: FormDefinition) -> None:
        self.form = form
        self._locations: list[Location] | None = None
        self._references: dict[str, list[Option]] = {}

    def options(self, f: Field, selected: list[str]) -> list[Option]:
        source = f.spec.get("options")
        if f.type == "location" or source == "location":
            return self.locations(f.spec.get("admin_level"))
        if source in ("agency", "user"):
            return self.references(str(source))
        return [
            Option(option["id"], translate(option.get("label")) or option["id"])
            for option in self.form.options(f) or []
            if not option.get("disabled") or option["id"] in selected
        ]

    def locations(self, deepest: int | None) -> list[Option]:
        # NOTE: a select suits trees of a few hundred places; a large tree needs a search box.
        if self._locations is None:
            self._locations = list(Location.objects.filter(disabled=False))
        by_code = {location.unique_id: location for location in self._locations}
        parent_codes = {location.pk: location.unique_id for location in self._locations}
        options = []
        for location in sorted(
            self._locations, key=lambda loc: path_of(loc, by_code, parent_codes)
        ):
            if deepest is not None and location.admin_level > deepest:
                continue
            labels = [by_code[code].label for code in path_of(location, by_code, parent_codes)]
            options.append(Option(location.unique_id, " › ".join(labels)))
        return options

    def references(self, kind: str) -> list[Option]:
        if kind not in self._references:
            if kind == "agency":
                self._references[kind] = [
                    Option(agency.unique_id, translate(agency.name) or agency.unique_id)
                    for agency in Agency.objects.filter(disabled=False).order_by("unique_id")
                ]
            else:
                self._references[kind] = [
                    Option(user.username, user.get_full_name() or user.username)
                    for user in User.objects.filter(is_active=True).order_by("username")
                ]
        return self._references[kind]


def path_of(
    location: Location, by_code: dict[str, Location], parent_codes: dict[int, str]
) -> list[str]:
    """Return the codes from the root of the tree down to `location`."""
    codes = [location.unique_id]
    current = location
    while current.parent_id is not None and current.parent_id in parent_codes:
        current = by_code[parent_codes[current.parent_id]]
        codes.insert(0, current.unique_id)
    return codes


@dataclass
class FormInputs:
    inputs: list[Input]
    # Values of fields outside the form that its conditions read, for the page's script.
    outside_values: dict[str, Any]


def build_inputs(
    form: FormDefinition,
    sections: Iterable[SectionDef],
    values: dict[str, Any],
    errors: dict[str, list[str]],
    display: Display,
) -> FormInputs:
    """Build the inputs of `sections`, filled from `values`, with `errors` keyed by input name."""
    sections = list(sections)
    source = OptionSource(form)
    fields = [f for section in sections for f in section.fields if f.visible]
    display.prefetch_attachments((f, values.get(f.name)) for f in fields)
    inputs = [
        build_input(form, f, binding.input_name(f), values, errors, source, display) for f in fields
    ]
    in_form = {f.name for f in fields}
    outside = {name: values.get(name) for name in controlling(fields) - in_form}
    return FormInputs(inputs, outside)


def build_input(
    form: FormDefinition,
    f: Field,
    name: str,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    source: OptionSource,
    display: Display,
) -> Input:
    """Build the input of field `f` from `values`, those of the record or of one subform row."""
    value = values.get(f.name)
    widget = WIDGETS.get(f.type, "text")
    if f.type == "select":
        widget = "multi" if f.spec.get("multi") else "select"
    if f.type in ATTACHMENT_TYPES:
        widget = "attachments"
    if not binding.is_bound(f) and widget not in ("separator", "readonly", "attachments"):
        widget = "readonly"

    item = Input(
        field=f,
        name=name,
        widget=widget,
        label=f.display_label,
        help=translate(f.help),
        required=bool(f.spec.get("required")),
        errors=errors.get(name, []),
    )
    condition = f.spec.get("visible_if")
    if condition:
        item.condition = json.dumps(condition)
        item.hidden = not condition_holds(condition, values) and not item.errors
    if widget == "attachments":
        return attachment_input(item, f, value, display)
    if widget == "readonly":
        item.text = display.text(f, value) or _("None yet")
        return item
    if widget == "separator":
        return item

    item.value = binding.input_value(f, value)
    if widget in ("select", "multi", "radio"):
        item.options = source.options(f, item.values)
    if widget == "checkbox":
        item.label = translate(f.spec.get("tick_box_label")) or f.display_label
    if widget == "number":
        item.inputmode = "numeric" if f.spec.get("integer") else "decimal"
    if widget == "tally":
        counts = value if isinstance(value, dict) else {}
        item.counts = [
            (option.label, f"{name}.{option.value}", str(counts.get(option.value, "")))
            for option in source.options(f, [])
        ]
    if widget == "subform":
        item.rows = build_rows(form, f, value, errors, source, display)
    return item


def attachment_input(item: Input, f: Field, value: Any, display: Display) -> Input:
    """Fill an attachment field's input: its files, and a file picker once the record exists."""
    item.files = display.files(value)
    item.value = [str(attachment.pk) for attachment in item.files]
    item.accept = ACCEPT.get(f.type, "")
    item.can_upload = display.record is not None and binding.is_bound(f)
    item.limits = _("%(kinds)s, up to %(size)d MB a file.") % {
        "kinds": ACCEPTED_KINDS.get(f.type, ""),
        "size": max_upload_bytes() // 2**20,
    }
    if display.record is None and binding.is_bound(f):
        item.help = " ".join(
            part
            for part in (item.help, _("Files can be added once the record is registered."))
            if part
        )
    return item


def build_rows(
    form: FormDefinition,
    f: Field,
    value: Any,
    errors: dict[str, list[str]],
    source: OptionSource,
    display: Display,
) -> list[Row]:
    """Build the stored (or posted) rows of a subform, then one blank row to add a new one."""
    subform = form.subform_of(f)
    stored = [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []
    rows = []
    for index, row in enumerate([*stored, {"unique_id": uuid.uuid4().hex}]):
        prefix = binding.row_prefix(f, index)
        inputs = [
            build_input(form, sub, f"{prefix}{sub.name}", row, errors, source, display)
            for sub in subform.fields
            if sub.visible
        ]
        row_errors = errors.get(f"{prefix}unique_id", [])
        blank = index == len(stored)
        rows.append(Row(prefix, str(row.get("unique_id", "")), inputs, blank, row_errors))
    return rows
