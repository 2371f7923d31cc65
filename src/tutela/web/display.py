"""Record values as a caseworker reads them: option labels, local dates, translated words.

A page first passes every value it will show to `Display.prefetch`, which looks up the
locations, agencies, users and (for a record's page) attachments they name with one query per
kind. `Display.text` then turns each value into text in the active language and the user's
time zone.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tutela.access.models import Agency, User
from tutela.attachments.actions import attachments_by_id
from tutela.attachments.models import Attachment
from tutela.configuration.forms import FormDefinition, SectionDef
from tutela.configuration.models import ATTACHMENT_TYPES, Field, Location, translate
from tutela.records.models import Record
from tutela.records.validation import condition_holds, is_empty, section_shown


def reference_kind(field: Field) -> str | None:
    """Return "location", "agency" or "user" for fields whose values name such an item."""
    if field.type == "location":
        return "location"
    source = field.spec.get("options")
    if field.type in ("select", "radio") and source in ("location", "agency", "user"):
        return str(source)
    return None


def as_list(value: Any) -> list[Any]:
    """Return the items of a value that may be one item or a list; none for an empty value."""
    if is_empty(value):
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Display:
    form: FormDefinition
    # The record whose values are shown: only its own attachments are looked up.
    record: Record | None = None
    labels: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=lambda: {"location": {}, "agency": {}, "user": {}}
    )
    attachments: dict[str, Attachment] = dataclasses.field(default_factory=dict)

    def prefetch(self, items: Iterable[tuple[Field, Any]]) -> None:
        """Look up the names of every location, agency and user that `items` refer to."""
        wanted: dict[str, set[str]] = {"location": set(), "agency": set(), "user": set()}
        files: list[str] = []
        for f, value in self._flatten(items):
            kind = reference_kind(f)
            if kind and not is_empty(value):
                wanted[kind].update(str(v) for v in as_list(value))
            if f.type in ATTACHMENT_TYPES and not is_empty(value):
                files.extend(str(v) for v in as_list(value))
        self.fetch_attachments(files)

        if wanted["location"]:
            for code, names in Location.objects.filter(
                unique_id__in=wanted["location"]
            ).values_list("unique_id", "name"):
                self.labels["location"][code] = translate(names) or code
        if wanted["agency"]:
            for unique_id, names in Agency.objects.filter(
                unique_id__in=wanted["agency"]
            ).values_list("unique_id", "name"):
                self.labels["agency"][unique_id] = translate(names) or unique_id
        if wanted["user"]:
            for user in User.objects.filter(username__in=wanted["user"]).only(
                "username", "first_name", "last_name"
            ):
                self.labels["user"][user.username] = user.get_full_name() or user.username

    def prefetch_attachments(self, items: Iterable[tuple[Field, Any]]) -> None:
        """Look up the attachments that the attachment fields among `items` name."""
        files = [
            str(v)
            for f, value in self._flatten(items)
            if f.type in ATTACHMENT_TYPES and not is_empty(value)
            for v in as_list(value)
        ]
        self.fetch_attachments(files)

    def fetch_attachments(self, ids: list[str]) -> None:
        missing = [i for i in ids if i not in self.attachments]
        if self.record is not None and missing:
            self.attachments.update(attachments_by_id(self.record, missing))

    def files(self, value: Any) -> list[Attachment]:
        """Return the known attachments among the ids of an attachment field's value."""
        if is_empty(value):
            return []
        return [self.attachments[str(v)] for v in as_list(value) if str(v) in self.attachments]

    def _flatten(self, items: Iterable[tuple[Field, Any]]) -> Iterable[tuple[Field, Any]]:
        for f, value in items:
            if f.type == "subform" and isinstance(value, list):
                subform = self.form.subforms.get(f.spec.get("subform", ""))
                if subform is None:
                    continue
                for row in value:
                    if isinstance(row, dict):
                        yield from ((sub, row.get(sub.name)) for sub in subform.fields)
            else:
                yield f, value

    def text(self, f: Field, value: Any) -> str:
        """Return `value` as text for people; an empty string when there is no value."""
        if is_empty(value):
            return ""
        kind = reference_kind(f)
        if kind:
            return ", ".join(self.labels[kind].get(str(v), str(v)) for v in as_list(value))
        if f.type in ("select", "radio"):
            return ", ".join(self.form.option_label(f, str(v)) for v in as_list(value))
        if f.type == "tick_box":
            return _("Yes") if value is True else _("No")
        if f.type in ("number", "calculated") and isinstance(value, int | float):
            return str(formats.number_format(value, use_l10n=True))
        if f.type == "date":
            return local_date(value)
        if f.type == "date_time":
            return local_date_time(value)
        if f.type == "tally" and isinstance(value, dict):
            return ", ".join(
                f"{self.form.option_label(f, str(k))}: {formats.number_format(v)}"
                for k, v in value.items()
            )
        if f.type in ATTACHMENT_TYPES:
            return self.file_names(value)
        if f.type == "subform" and isinstance(value, list):
            count = len(value)
            return ngettext("%(count)d row", "%(count)d rows", count) % {"count": count}
        return str(value)

    def file_names(self, value: Any) -> str:
        """Name the files of an attachment field; count those not looked up."""
        known = self.files(value)
        names = [attachment.file_name for attachment in known]
        others = len(as_list(value)) - len(known)
        if others and names:
            names.append(
                ngettext("%(count)d other file", "%(count)d other files", others)
                % {"count": others}
            )
        elif others:
            names.append(ngettext("%(count)d file", "%(count)d files", others) % {"count": others})
        return ", ".join(names)


def local_date(value: Any) -> str:
    try:
        return str(formats.date_format(dt.date.fromisoformat(str(value)), "DATE_FORMAT"))
    except ValueError:
        return str(value)


def aware_moment(value: Any) -> dt.datetime | None:
    """Parse a stored ISO moment; None when it is not one or has no time zone offset."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return None if timezone.is_naive(moment) else moment


def local_date_time(value: Any) -> str:
    """Format an ISO moment in the active time zone (the user's) with the locale's format."""
    moment = aware_moment(value)
    if moment is None:
        return str(value)
    return str(formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT"))


# What the case page shows: groups of sections of labelled values.


@dataclass
class ShownValue:
    field: Field
    label: str
    text: str = ""
    # A separator has `kind` "separator". A subform has `kind` "subform" and each row's values
    # in `rows`. An attachment field has `kind` "attachments" and its files in `files`.
    kind: str = "value"
    rows: list[list["ShownValue"]] = dataclasses.field(default_factory=list)
    files: list[Attachment] = dataclasses.field(default_factory=list)


@dataclass
class ShownSection:
    section: SectionDef
    label: str
    values: list[ShownValue]
    editable: bool


@dataclass
class ShownGroup:
    label: str
    sections: list[ShownSection]


def shown_value(display: Display, f: Field, value: Any) -> ShownValue:
    if f.type == "separator":
        return ShownValue(f, f.display_label, kind="separator")
    if f.type in ATTACHMENT_TYPES:
        shown = ShownValue(f, f.display_label, display.text(f, value), kind="attachments")
        shown.files = display.files(value)
        return shown
    if f.type == "subform" and isinstance(value, list):
        subform = display.form.subforms.get(f.spec.get("subform", ""))
        if subform is not None:
            return ShownValue(
                f,
                f.display_label,
                display.text(f, value),
                kind="subform",
                rows=[shown_row(display, subform, row) for row in sorted_rows(f, value)],
            )
    return ShownValue(f, f.display_label, display.text(f, value))


def shown_row(display: Display, subform: SectionDef, row: Any) -> list[ShownValue]:
    values = row if isinstance(row, dict) else {}
    return [
        shown_value(display, sub, values.get(sub.name))
        for sub in subform.fields
        if sub.visible and condition_holds(sub.spec.get("visible_if"), values)
    ]


def sorted_rows(f: Field, rows: list[Any]) -> list[Any]:
    """Subform rows in the order the configuration names (`sort_by`); rows without it last."""
    key = f.spec.get("sort_by")
    if not key:
        return rows
    present = [r for r in rows if isinstance(r, dict) and not is_empty(r.get(key))]
    absent = [r for r in rows if r not in present]
    return sorted(present, key=lambda r: str(r[key])) + absent


def record_groups(
    display: Display, data: dict[str, Any], access: dict[str, str] | None = None
) -> list[ShownGroup]:
    """Return the visible sections of a record with their visible values, grouped as configured.

    `access` maps a section's unique_id to the user's access ("write", "read" or "hidden", see
    tutela.access.permissions); hidden sections are left out and read-only ones not editable.
    """
    form = display.form
    access = access or {}
    display.prefetch((f, data.get(f.name)) for f in form.fields.values())
    groups: list[ShownGroup] = []
    for section in form.sections:
        if access.get(section.unique_id) == "hidden" or not section_shown(section, data):
            continue
        values = [
            shown_value(display, f, data.get(f.name))
            for f in section.fields
            if f.visible and condition_holds(f.spec.get("visible_if"), data)
        ]
        group = section.section.form_group
        label = group.label if group else ""
        if not groups or groups[-1].label != label:
            groups.append(ShownGroup(label, []))
        editable = (
            section.section.editable
            and access.get(section.unique_id, "write") == "write"
            and any(f.editable for f in section.fields if f.type not in ("separator", "calculated"))
        )
        groups[-1].sections.append(ShownSection(section, section.section.label, values, editable))
    return groups


def archived_values(display: Display, data: dict[str, Any]) -> list[ShownValue]:
    """Values of fields no longer in the form, labelled by their last known definition."""
    form = display.form
    names = [name for name in data if name not in form.fields]
    known = [(form.archived_fields[n], data[n]) for n in names if n in form.archived_fields]
    display.prefetch(known)
    shown = [ShownValue(f, f.display_label, display.text(f, value)) for f, value in known]
    # A value whose field the configuration never had (an import, a hand edit) shows raw.
    for name in names:
        if name not in form.archived_fields:
            shown.append(ShownValue(Field(name=name, type="text"), name, str(data[name])))
    return shown
