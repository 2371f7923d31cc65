"""Import a Primero v2 configuration: convert it to a Tutela configuration document and load it.

The input is the body of Primero's `POST /api/v2/configurations`: `{"data": {id, name, version,
primero_version, data: {FormSection: [...], Lookup: [...], Agency: [...], Role: [...], ...}}}`.
The whole file is converted in memory first. Only then do `load_configuration` and the agency
updates run, in one transaction, so a failed import changes nothing. Every Primero item ends up in
the `ImportReport`: imported, imported with changes (each change named), or not supported (with
the reason).

Mapping rules that the code alone does not explain:

- Primero stores a record's values flat, so a field name used in several forms of one record
  type is one value shown in each. Tutela names must be unique across the ordinary sections of a
  record type. The first occurrence in Primero's display order (form group order, form order,
  file order) is kept and the others are skipped. Duplicate separators hold no value, so they are
  renamed instead.
- Primero's `editable` on a form section locks the form in Primero's form builder (Primero
  rejects new fields for it), and caseworkers still enter data in it. Tutela's section `editable`
  blocks data entry, so imported sections stay editable and the lock is reported.
- Primero marks every nested (subform) section invisible to keep it out of the form list. Tutela's
  `"subform": true` already does that, so subform sections are imported visible.
- A subform section belongs to one record type in Tutela. A Primero section used by the subform
  fields of another record type, or used both on its own and as rows, is copied.
- Primero has no sensitivity flag. Names, dates of birth, identity numbers and attachments are
  marked sensitive, and names and identity numbers searchable, as in Tutela's own configuration.
"""

import logging
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from tutela.access.configuration import check_roles
from tutela.access.models import Agency
from tutela.access.primero_roles import convert_roles, convert_user_groups, save_roles_and_groups
from tutela.configuration import loading, schema

logger = logging.getLogger(__name__)

RECORD_TYPE = "record type"
FORM_GROUP = "form group"
FORM_SECTION = "form section"
FIELD = "field"
LOOKUP = "lookup"
AGENCY = "agency"
ROLE = "role"
USER_GROUP = "user group"
REPORT = "report"
CONTACT_INFORMATION = "contact information"
KIND_ORDER = (
    RECORD_TYPE,
    FORM_GROUP,
    FORM_SECTION,
    FIELD,
    LOOKUP,
    AGENCY,
    ROLE,
    USER_GROUP,
    REPORT,
    CONTACT_INFORMATION,
)
PLURALS = {AGENCY: "agencies", CONTACT_INFORMATION: "contact information"}

# Tutela's four record types come first, in this order; any other parent_form follows.
STANDARD_RECORD_TYPES = ("case", "incident", "tracing_request", "family")

FIELD_TYPES = {
    "text_field": "text",
    "textarea": "textarea",
    "select_box": "select",
    "check_boxes": "select",  # Primero before v2: a multi-select drawn as tick boxes
    "radio_button": "radio",
    "tick_box": "tick_box",
    "numeric_field": "number",
    "date_field": "date",
    "subform": "subform",
    "separator": "separator",
    "tally_field": "tally",
    "photo_upload_box": "photo",
    "audio_upload_box": "audio",
    "document_upload_box": "document",
    "signature": "signature",
    "calculated": "calculated",
}
UNSUPPORTED_FIELD_TYPES = {
    "date_range": (
        "a date range holds a start and an end date, and a Tutela date field holds one date; "
        "add two date fields in its place"
    ),
    "custom": (
        "Primero draws a custom field with a template from its own code, so there is no "
        "definition to convert"
    ),
}
OPTION_TYPES = frozenset({"select", "radio", "tally"})
ATTACHMENT_TYPES = frozenset({"photo", "audio", "document", "signature"})
CALCULATIONS = {"sum": "sum", "avg": "average"}

# Primero's core field names (the name and identifier fields of its Child model, which its quick
# search uses) and the Tutela role each one plays.
NAME_FIELDS = frozenset(
    {"name", "name_first", "name_middle", "name_last", "name_nickname", "name_other"}
)
ID_NUMBER_FIELDS = frozenset(
    {
        "national_id_no",
        "unhcr_id_no",
        "unhcr_individual_no",
        "un_no",
        "other_id_no",
        "icrc_ref_no",
        "rc_id_no",
        "ration_card_no",
        "other_agency_id",
        "survivor_code_no",
        "biometrics_id",
        "registry_no",
    }
)
OTHER_ROLE_FIELDS = {
    "sex": "sex",
    "date_of_birth": "date_of_birth",
    "age": "age",
    "location_current": "location",
}
ROLE_TYPES = {
    "name": {"text"},
    "sex": {"select", "radio"},
    "date_of_birth": {"date"},
    "age": {"number"},
    "location": {"select", "location"},
    "id_number": {"text"},
}

LOCALE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
# Translatable properties, which older files also spell `<property>_<locale>`.
FIELD_TEXT_PROPERTIES = (
    "display_name",
    "help_text",
    "guiding_questions",
    "tick_box_label",
    "option_strings_text",
    "tally",
)
SECTION_TEXT_PROPERTIES = ("name", "description", "help_text", "form_group_name")

# Field properties that the conversion reads.
FIELD_PROPERTIES = frozenset(
    {
        "name",
        "type",
        "order",
        "display_name",
        "display_name_i18n",
        "help_text",
        "help_text_i18n",
        "guiding_questions",
        "guiding_questions_i18n",
        "tick_box_label",
        "tick_box_label_i18n",
        "option_strings_source",
        "option_strings_text",
        "option_strings_text_i18n",
        "tally",
        "tally_i18n",
        "multi_select",
        "required",
        "visible",
        "editable",
        "disabled",
        "matchable",
        "show_on_minify_form",
        "date_include_time",
        "date_validation",
        "subform_unique_id",
        "subform_section_id",
        "subform_sort_by",
        "subform_section_configuration",
        "display_conditions_record",
        "display_conditions_subform",
        "calculation",
    }
)
# Field properties without effect in Tutela: database ids and timestamps, and settings of
# Primero's mobile app, form builder and widgets.
SILENT_FIELD_PROPERTIES = frozenset(
    {
        "id",
        "form_section_id",
        "form_section_unique_id",
        "created_at",
        "updated_at",
        "base_language",
        "mobile_visible",
        "create_property",
        "searchable_select",
        "expose_unique_id",
        "link_to_path_external",
        "field_tags",
        "autosum_group",
        "collapse",
        "collapsed_field_for_subform_unique_id",
        "collapsed_field_for_subform_section_id",
        "subform_summary",
        "highlight_information",
        "custom_template",
    }
)
# Field properties that change what caseworkers see in Primero, with what Tutela does instead.
REPORTED_FIELD_PROPERTIES = {
    "selected_value": "default value {value!r} not kept, because Tutela fields start empty",
    "hidden_text_field": "Primero can hide this text on screen, but Tutela shows it",
    "hide_on_view_page": (
        "Primero shows it only while editing, but Tutela also shows it on the record page"
    ),
    "link_to_path": "Primero links the value to a {value} record, but Tutela shows it as text",
    "option_strings_condition": (
        "Primero narrows the options by other values, but Tutela offers all of them"
    ),
    "autosum_total": "Primero shows the total of the counts, but Tutela does not",
    "subform_group_by": "Primero groups the rows by {value!r}, but Tutela lists them in order",
    "mandatory_for_completion": (
        "Primero counts it towards completing the record, but Tutela has no completeness check"
    ),
}

SECTION_PROPERTIES = frozenset(
    {
        "unique_id",
        "parent_form",
        "name",
        "name_i18n",
        "description",
        "description_i18n",
        "help_text",
        "help_text_i18n",
        "form_group_id",
        "form_group_name",
        "form_group_name_i18n",
        "order",
        "order_form_group",
        "order_subform",
        "visible",
        "editable",
        "is_nested",
        "fields",
        "fields_attributes",
        "display_conditions",
    }
)
# Section properties of Primero's mobile app, form builder and page layout.
SILENT_SECTION_PROPERTIES = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "base_language",
        "mobile_form",
        "core_form",
        "is_first_tab",
        "initial_subforms",
        "collapsed_field_names",
        "subform_header_links",
        "display_help_text_view",
        "header_message_link",
        "form_group_keyed",
        "fixed_order",
        "perm_visible",
        "perm_enabled",
        "validations",
        "subform_prevent_item_removal",
        "subform_append_only",
        "is_summary_section",
        "hide_subform_placeholder",
        "shared_subform",
        "shared_subform_group",
        "primero_modules",
        "module_ids",
    }
)
AGENCY_PROPERTIES = frozenset({"id", "unique_id", "name", "name_i18n", "agency_code", "disabled"})

# Configuration items that Tutela has no model for, with the reason the report gives. Roles
# and user groups are converted by tutela.access.primero_roles.
UNSUPPORTED_ITEMS = {
    "Report": (REPORT, "not supported yet, because Tutela has no saved reports"),
    "ContactInformation": (
        CONTACT_INFORMATION,
        "not supported, because Tutela has no page for the site's contact information",
    ),
}

FORM_GROUP_LOOKUP = re.compile(r"^lookup-form-group-[a-z0-9]+-(?P<record_type>[a-z0-9-]+)$")
MAX_ID_LENGTH = 100
MAX_AGENCY_CODE_LENGTH = 50


# ---------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class ReportItem:
    """One Primero item and what became of it: the changes made, or why it was skipped."""

    kind: str
    name: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class KindCounts:
    imported: int = 0
    changed: int = 0
    not_supported: int = 0

    @property
    def total(self) -> int:
        return self.imported + self.changed + self.not_supported


@dataclass
class ImportReport:
    """The outcome of an import for each item of a Primero configuration."""

    source: str
    dry_run: bool
    imported: list[ReportItem] = field(default_factory=list)
    changed: list[ReportItem] = field(default_factory=list)
    not_supported: list[ReportItem] = field(default_factory=list)

    def counts(self) -> dict[str, KindCounts]:
        """Count the items of each kind, in the order of KIND_ORDER, then any other kinds."""
        found: dict[str, list[int]] = {}
        for position, items in enumerate((self.imported, self.changed, self.not_supported)):
            for item in items:
                found.setdefault(item.kind, [0, 0, 0])[position] += 1
        kinds = [k for k in KIND_ORDER if k in found] + [k for k in found if k not in KIND_ORDER]
        return {kind: KindCounts(*found[kind]) for kind in kinds}

    def item(self, kind: str, name: str) -> ReportItem | None:
        for item in (*self.imported, *self.changed, *self.not_supported):
            if item.kind == kind and item.name == name:
                return item
        return None

    def render(self) -> str:
        """Return a plain-text summary for the terminal: counts, then every change and skip."""
        action = "Checked (dry run)" if self.dry_run else "Imported"
        lines = [f"{action}: {self.source}", ""]
        lines += _count_table(self.counts())
        if self.changed:
            lines += ["", f"Imported with changes ({len(self.changed)}):"]
            lines += _grouped_lines(self.changed)
        if self.not_supported:
            lines += ["", f"Not supported, skipped ({len(self.not_supported)}):"]
            lines += _grouped_lines(self.not_supported)
        return "\n".join(lines)


def _plural(kind: str) -> str:
    return PLURALS.get(kind, f"{kind}s")


def _count_table(counts: dict[str, KindCounts]) -> list[str]:
    header = f"  {'':<22}{'imported':>10}{'with changes':>14}{'not supported':>15}"
    rows = [
        f"  {_plural(kind):<22}{c.imported:>10}{c.changed:>14}{c.not_supported:>15}"
        for kind, c in counts.items()
    ]
    return [header, *rows]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent="      ")


def _grouped_lines(items: list[ReportItem]) -> list[str]:
    """List the items; items of one kind with the same notes share one entry."""
    groups: dict[tuple[str, str], list[str]] = {}
    for item in items:
        groups.setdefault((item.kind, "; ".join(item.notes)), []).append(item.name)

    lines: list[str] = []
    for (kind, note), names in groups.items():
        if len(names) == 1:
            lines += _wrap(f"{kind} {names[0]}: {note}", "  ")
        else:
            lines += _wrap(f"{len(names)} {_plural(kind)}: {note}", "  ")
            lines += _wrap(", ".join(names), "      ")
    return lines


class _Tracker:
    """Collects the report entry of every Primero item that the conversion reads, in order."""

    def __init__(self) -> None:
        self.notes: dict[tuple[str, str], list[str]] = {}
        self.skipped: dict[tuple[str, str], str] = {}

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self.notes

    def seen(self, kind: str, name: str) -> None:
        self.notes.setdefault((kind, name), [])

    def change(self, kind: str, name: str, note: str) -> None:
        self.notes.setdefault((kind, name), []).append(note)

    def skip(self, kind: str, name: str, reason: str) -> None:
        self.seen(kind, name)
        self.skipped.setdefault((kind, name), reason)

    def report(self, source: str, *, dry_run: bool) -> ImportReport:
        report = ImportReport(source=source, dry_run=dry_run)
        for (kind, name), notes in self.notes.items():
            if (kind, name) in self.skipped:
                report.not_supported.append(ReportItem(kind, name, (self.skipped[kind, name],)))
            elif notes:
                report.changed.append(ReportItem(kind, name, tuple(notes)))
            else:
                report.imported.append(ReportItem(kind, name))
        return report


# ---------------------------------------------------------------------------------------------
# Names, texts and conditions


def humanise(identifier: str) -> str:
    """Turn an id such as `identification_registration` into `Identification registration`."""
    text = re.sub(r"[_\-\s]+", " ", identifier.removeprefix("lookup-")).strip()
    return text[:1].upper() + text[1:] if text else identifier


def normalise_field_name(raw: str) -> str | None:
    """Return `raw` as a Tutela field name (`^[a-z][a-z0-9_]*$`), or None when nothing is left."""
    name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if name and not name[0].isalpha():
        name = f"field_{name}"
    return name[:MAX_ID_LENGTH] or None


def normalise_unique_id(raw: Any) -> str | None:
    """Return `raw` as a Tutela unique_id (letters, digits, `_` and `-`), or None."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = re.sub(r"[^A-Za-z0-9_\-]+", "_", str(raw).strip()).strip("_-")
    return text[:MAX_ID_LENGTH] or None


def read_texts(item: dict[str, Any], key: str) -> dict[str, str]:
    """Collect the texts per locale of a Primero property, leaving out empty ones.

    Primero v2 exports `key_i18n: {locale: text}`. Older exports and Primero's seed files use
    `key` (a text or an object) or one `key_<locale>` property per locale.
    """
    value = item.get(f"{key}_i18n")
    if value is None:
        value = item.get(key)
    texts: dict[str, str] = {}
    if isinstance(value, dict):
        texts = {
            str(locale): text
            for locale, text in value.items()
            if isinstance(text, str) and text.strip()
        }
    elif isinstance(value, str) and value.strip():
        texts = {"en": value}

    for property_name, text in item.items():
        if is_locale_variant(property_name, [key]) and isinstance(text, str) and text.strip():
            texts.setdefault(property_name.removeprefix(f"{key}_"), text)
    return texts


def is_locale_variant(key: str, properties: Iterable[str]) -> bool:
    """Check whether `key` is one locale's text of a property, such as `display_name_fr`."""
    return any(
        key.startswith(f"{name}_") and LOCALE.match(key.removeprefix(f"{name}_")) is not None
        for name in properties
    )


def is_set(value: Any) -> bool:
    """Check whether a Primero property has a value other than an empty default."""
    return value not in (None, False, "", [], {})


def whole_number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


class _Unconvertible(Exception):
    """A Primero display condition that Tutela's skip logic cannot express."""


def convert_condition(condition: Any, names: dict[str, str]) -> dict[str, Any]:
    """Convert a Primero display condition into a Tutela condition; raise _Unconvertible.

    Primero writes `{"eq": {"sex": "female"}}`, likewise `in`, `gt`, `ge`, `lt`, `le` and `ne`,
    and combines them with `and` and `or` lists and `not`. `names` maps Primero field names to
    the imported ones.
    """
    # NOTE: for a multi-select, Primero's `in` holds when every listed value is selected and
    # Tutela's when any is; a converted condition keeps Tutela's meaning.
    if not isinstance(condition, dict) or len(condition) != 1:
        raise _Unconvertible(f"{condition!r} is not a condition with one operator")
    operator, argument = next(iter(condition.items()))
    if operator in ("and", "or"):
        if not isinstance(argument, list) or not argument:
            raise _Unconvertible(f"{operator!r} needs a list of conditions")
        return {operator: [convert_condition(part, names) for part in argument]}
    if operator == "not":
        return {"not": convert_condition(argument, names)}

    if not isinstance(argument, dict) or len(argument) != 1:
        raise _Unconvertible(f"{operator!r} needs one field and its value")
    primero_name, value = next(iter(argument.items()))
    name = names.get(primero_name)
    if name is None:
        raise _Unconvertible(f"the field {primero_name!r} is not imported into this form")
    if operator in ("eq", "gt", "lt"):
        return {"field": name, "op": operator, "value": value}
    if operator == "in":
        return {"field": name, "op": "in", "value": value if isinstance(value, list) else [value]}
    negations = {"ne": "eq", "ge": "lt", "le": "gt"}
    if operator in negations:
        return {"not": {"field": name, "op": negations[operator], "value": value}}
    raise _Unconvertible(f"the operator {operator!r} has no counterpart in Tutela")


def subform_target(raw: dict[str, Any]) -> str:
    """Return the unique_id of the section whose fields make up a subform field's rows."""
    # Primero v2 exports subform_unique_id; older files name the section in subform_section_id.
    target = raw.get("subform_unique_id") or raw.get("subform_section_id")
    return target if isinstance(target, str) else ""


def convert_calculation(raw: Any) -> dict[str, Any] | None:
    """Convert Primero's `{"expression": {"sum": [fields]}}` (or `avg`); None for others."""
    expression = raw.get("expression") if isinstance(raw, dict) else None
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    operator, arguments = next(iter(expression.items()))
    if operator not in CALCULATIONS or not isinstance(arguments, list) or not arguments:
        return None
    if not all(isinstance(argument, str) for argument in arguments):
        return None
    return {"op": CALCULATIONS[operator], "fields": arguments}


# ---------------------------------------------------------------------------------------------
# Options


@dataclass
class _OptionText:
    option_id: Any
    locale: str
    text: Any
    disabled: Any


def _option_texts(value: Any, locale: str | None) -> list[_OptionText]:
    """Read one Primero option: a text, or `{id, display_text, disabled}`."""
    if isinstance(value, str):
        return [_OptionText(value, locale or "en", value, None)]
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not an option")
    display = value.get("display_text")
    if isinstance(display, dict):
        return [
            _OptionText(value.get("id"), str(text_locale), text, value.get("disabled"))
            for text_locale, text in display.items()
        ]
    return [_OptionText(value.get("id"), locale or "en", display, value.get("disabled"))]


def _all_option_texts(raw: Any) -> list[_OptionText]:
    """Read a Primero option list in any of its shapes; raise ValueError for anything else.

    The shapes are a list of options whose `display_text` is an object per locale (Primero v2), an
    object of option lists per locale, a plain list, or the lines of one text (Primero v1).
    """
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines() if line.strip()]
    entries: list[_OptionText] = []
    if isinstance(raw, dict):
        for locale, values in raw.items():
            if isinstance(values, str):
                values = [line for line in values.splitlines() if line.strip()]
            if not isinstance(values, list):
                raise ValueError(f"the options for {locale!r} are not a list")
            for value in values:
                entries += _option_texts(value, str(locale))
    elif isinstance(raw, list):
        for value in raw:
            entries += _option_texts(value, None)
    else:
        raise ValueError(f"{type(raw).__name__} is not a list of options")
    return entries


def _option_id(raw: Any) -> str | None:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, str) and raw.strip():
        return raw
    return None


def merge_options(raw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Convert a Primero option list into Tutela options; return them with notes on changes.

    Raise ValueError when `raw` is not an option list at all.
    """
    options: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    repeated: list[str] = []
    without_id = 0
    for entry in _all_option_texts(raw):
        option_id = _option_id(entry.option_id)
        if option_id is None:
            without_id += 1
            continue
        if (entry.locale, option_id) in seen:
            repeated.append(option_id)
        seen.add((entry.locale, option_id))
        option = options.setdefault(option_id, {"id": option_id, "label": {}})
        if isinstance(entry.text, str) and entry.text.strip():
            option["label"].setdefault(entry.locale, entry.text)
        if entry.disabled is True:
            option["disabled"] = True

    notes = []
    if repeated:
        notes.append(f"option(s) {', '.join(sorted(set(repeated)))} listed twice, kept once")
    if without_id:
        notes.append(f"{without_id} option text(s) without an id skipped")
    unlabelled = [option["id"] for option in options.values() if "en" not in option["label"]]
    for option in options.values():
        label = option["label"]
        if "en" not in label:
            option["label"] = {"en": next(iter(label.values()), humanise(option["id"])), **label}
    if unlabelled:
        listed = ", ".join(unlabelled[:5]) + (" ..." if len(unlabelled) > 5 else "")
        notes.append(
            f"option(s) {listed} have no English label, so another locale or the id is used"
        )
    return list(options.values()), notes


# ---------------------------------------------------------------------------------------------
# Reading the file


def read_configuration(path: Path) -> dict[str, Any]:
    """Read the file and return the Primero configuration (the object under `data`)."""
    if not path.is_file():
        raise schema.ConfigurationInvalid(
            [
                schema.Problem(
                    str(path),
                    "was not found or is not a file; give the path of the JSON file that "
                    "Primero's configuration API returned.",
                )
            ]
        )
    body = loading.read_document(path)
    problems = check_shape(body)
    if problems:
        raise schema.ConfigurationInvalid(problems)
    configuration: dict[str, Any] = body["data"]
    return configuration


def check_shape(body: Any) -> list[schema.Problem]:
    """Check the outer shape `{"data": {..., "data": {"FormSection": [...], ...}}}`."""
    shape = (
        'a Primero v2 configuration has the shape {"data": {"name": ..., "data": '
        '{"FormSection": [...], "Lookup": [...], ...}}}, the body of POST /api/v2/configurations'
    )
    if not isinstance(body, dict):
        return [schema.Problem("$", f"must be an object, not {type(body).__name__}: {shape}.")]
    if not isinstance(body.get("data"), dict):
        return [schema.Problem("data", f"is missing or not an object: {shape}.")]
    content = body["data"].get("data")
    if not isinstance(content, dict):
        return [schema.Problem("data.data", f"is missing or not an object: {shape}.")]

    problems = []
    for key in ("FormSection", "Lookup"):
        if not isinstance(content.get(key), list):
            problems.append(
                schema.Problem(f"data.data.{key}", f"is missing or not a list: {shape}.")
            )
    for key, value in content.items():
        if (
            key not in ("FormSection", "Lookup")
            and value is not None
            and not isinstance(value, list)
        ):
            problems.append(schema.Problem(f"data.data.{key}", "must be a list of Primero items."))
    return problems


def describe_source(configuration: dict[str, Any]) -> str:
    name = configuration.get("name")
    label = f"Primero configuration {name!r}" if isinstance(name, str) else "Primero configuration"
    details = []
    if configuration.get("version"):
        details.append(f"version {configuration['version']}")
    if configuration.get("primero_version"):
        details.append(f"Primero {configuration['primero_version']}")
    return f"{label} ({', '.join(details)})" if details else label


# ---------------------------------------------------------------------------------------------
# Conversion state


@dataclass
class _Section:
    """A Primero form section as read from the file, before conversion."""

    index: int
    raw: dict[str, Any]
    primero_id: str
    unique_id: str
    record_type: str
    nested: bool
    fields_key: str

    @property
    def path(self) -> str:
        return f"data.data.FormSection[{self.index}]"

    def display_order(self) -> tuple[int, int, int, int]:
        """Primero's form order: form group order, form order, subform order, then file order."""
        return (
            whole_number(self.raw.get("order_form_group")) or 0,
            whole_number(self.raw.get("order")) or 0,
            whole_number(self.raw.get("order_subform")) or 0,
            self.index,
        )


@dataclass
class _Scope:
    """The field names of one namespace: a record type's ordinary sections, or one subform."""

    # Imported name -> report name of the field that uses it.
    owners: dict[str, str] = field(default_factory=dict)
    # Primero name -> imported name.
    renamed: dict[str, str] = field(default_factory=dict)


@dataclass
class _SubformReference:
    field_doc: dict[str, Any]
    target: str  # Primero unique_id of the section that makes up the rows
    path: str
    item: str
    section_id: str  # Tutela unique_id of the section that contains the field


@dataclass
class _PendingCondition:
    target: dict[str, Any]
    condition: Any
    names: dict[str, str]
    kind: str
    item: str


@dataclass
class _RecordTypeState:
    unique_id: str
    scope: _Scope = field(default_factory=_Scope)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    section_scopes: dict[str, _Scope] = field(default_factory=dict)
    references: list[_SubformReference] = field(default_factory=list)
    conditions: list[_PendingCondition] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # Primero id -> Tutela copy id
    used: set[str] = field(default_factory=set)  # Tutela ids of subform sections in use


@dataclass
class _FieldContext:
    """The position of the field being converted."""

    state: _RecordTypeState
    section_id: str  # Tutela unique_id of the section (a copy has its own)
    item: str  # report name of the section
    path: str  # the field's path in the Primero file
    subform: bool
    scope: _Scope


# ---------------------------------------------------------------------------------------------
# The conversion


class _Converter:
    """Converts one Primero configuration into a Tutela document and a list of agencies."""

    def __init__(self, configuration: dict[str, Any], tracker: _Tracker) -> None:
        self.configuration = configuration
        self.roles: list[dict[str, Any]] = []
        self.user_groups: list[dict[str, Any]] = []
        self.content: dict[str, Any] = configuration["data"]
        self.tracker = tracker
        self.problems: list[schema.Problem] = []
        self.locales: set[str] = {"en"}
        self.lookup_ids: dict[str, str] = {}  # Primero lookup id -> Tutela lookup id
        self.lookups: list[dict[str, Any]] = []
        self.sections: dict[str, _Section] = {}
        self.section_ids: set[str] = set()
        self.homes: dict[str, str] = {}  # Primero id of a nested section -> its record type
        self.field_items: dict[int, str] = {}  # id() of a field document -> its report name

    def problem(self, path: str, message: str) -> None:
        self.problems.append(schema.Problem(path, message))

    def convert(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return the Tutela document and the agencies; raise ConfigurationInvalid."""
        self.lookups = self.convert_lookups(self.content["Lookup"])
        self.read_sections(self.content["FormSection"])
        record_types = [self.convert_record_type(rt) for rt in self.record_type_order()]
        agencies = self.convert_agencies(self.content.get("Agency") or [])
        section_ids = {primero_id: s.unique_id for primero_id, s in self.sections.items()}
        self.roles = convert_roles(self.content.get("Role") or [], section_ids, self.tracker, ROLE)
        self.user_groups = convert_user_groups(
            self.content.get("UserGroup") or [], self.tracker, USER_GROUP
        )
        self.report_unsupported_items()
        if self.problems:
            raise schema.ConfigurationInvalid(self.problems)

        document = {
            "format": schema.FORMAT,
            "locales": ["en", *sorted(self.locales - {"en"})],
            "source": {
                "system": "primero",
                "name": self.configuration.get("name"),
                "version": self.configuration.get("version"),
                "primero_version": self.configuration.get("primero_version"),
            },
            "record_types": record_types,
            "lookups": self.lookups,
        }
        return document, agencies

    def texts(self, item: dict[str, Any], key: str) -> dict[str, str]:
        texts = read_texts(item, key)
        self.locales.update(texts)
        return texts

    def label(self, texts: dict[str, str], identifier: str, kind: str, item: str) -> dict[str, str]:
        """Return `texts` with an English text, noting on `item` where that text came from."""
        if "en" in texts:
            return texts
        if texts:
            locale, text = next(iter(texts.items()))
            self.tracker.change(kind, item, f"has no English label, so the {locale!r} text is used")
            return {"en": text, **texts}
        name = humanise(identifier)
        self.tracker.change(kind, item, f"has no label, so it is named {name!r} after its id")
        return {"en": name}

    # Lookups ---------------------------------------------------------------------------------

    def convert_lookups(self, raw_lookups: list[Any]) -> list[dict[str, Any]]:
        lookups = []
        for index, raw in enumerate(raw_lookups):
            lookup = self.convert_lookup(raw, f"data.data.Lookup[{index}]")
            if lookup is not None:
                lookups.append(lookup)
        return lookups

    def convert_lookup(self, raw: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.problem(path, "must be an object describing one lookup.")
            return None
        unique_id = normalise_unique_id(raw.get("unique_id"))
        if unique_id is None:
            self.problem(f"{path}.unique_id", "is missing: every lookup needs a unique_id.")
            return None
        item = str(raw["unique_id"])
        if item in self.lookup_ids or unique_id in self.lookup_ids.values():
            self.tracker.skip(LOOKUP, f"{item} ({path})", "another lookup has the same unique_id")
            return None
        self.tracker.seen(LOOKUP, item)
        if unique_id != item:
            self.tracker.change(LOOKUP, item, f"unique_id changed to {unique_id!r}")

        values, key = self.lookup_values(raw)
        try:
            options, notes = merge_options(values)
        except ValueError as e:
            self.problem(
                f"{path}.{key}",
                f"is not a list of lookup values ({e}); give a list of "
                '{"id": ..., "display_text": {"en": ...}} objects.',
            )
            return None
        for note in notes:
            self.tracker.change(LOOKUP, item, note)
        for option in options:
            self.locales.update(option["label"])

        self.lookup_ids[item] = unique_id
        name = self.label(self.texts(raw, "name"), unique_id, LOOKUP, item)
        return {"unique_id": unique_id, "name": name, "options": options}

    @staticmethod
    def lookup_values(raw: dict[str, Any]) -> tuple[Any, str]:
        """Return a lookup's values and the property they came from."""
        for key in ("lookup_values_i18n", "lookup_values"):
            if raw.get(key) is not None:
                return raw[key], key
        per_locale = {
            key.removeprefix("lookup_values_"): value
            for key, value in raw.items()
            if is_locale_variant(key, ["lookup_values"])
        }
        return per_locale, "lookup_values_i18n"

    # Form sections ---------------------------------------------------------------------------

    def read_sections(self, raw_sections: list[Any]) -> None:
        for index, raw in enumerate(raw_sections):
            section = self.read_section(raw, index)
            if section is not None:
                self.sections[section.primero_id] = section
                self.section_ids.add(section.unique_id)
        self.place_nested_sections()

    def read_section(self, raw: Any, index: int) -> _Section | None:
        path = f"data.data.FormSection[{index}]"
        if not isinstance(raw, dict):
            self.problem(path, "must be an object describing one form section.")
            return None
        unique_id = normalise_unique_id(raw.get("unique_id"))
        if unique_id is None:
            self.problem(f"{path}.unique_id", "is missing: every form section needs a unique_id.")
            return None

        primero_id = str(raw["unique_id"])
        if primero_id in self.sections or unique_id in self.section_ids:
            self.problem(
                f"{path}.unique_id",
                f"{primero_id!r} is used by another form section; give each its own unique_id.",
            )
            return None

        record_type = normalise_unique_id(raw.get("parent_form"))
        if record_type is None:
            self.problem(
                f"{path}.parent_form",
                "is missing: name the record type the form belongs to, such as 'case'.",
            )
            return None

        fields_key = "fields_attributes" if "fields_attributes" in raw else "fields"
        if not isinstance(raw.get(fields_key) or [], list):
            self.problem(f"{path}.{fields_key}", "must be a list of fields.")
            return None
        if record_type != raw["parent_form"]:
            self.tracker.change(
                RECORD_TYPE, record_type, f"unique_id changed from {raw['parent_form']!r}"
            )
        nested = raw.get("is_nested") is True
        return _Section(index, raw, primero_id, unique_id, record_type, nested, fields_key)

    @staticmethod
    def subform_targets(section: _Section) -> Iterable[str]:
        for raw_field in section.raw.get(section.fields_key) or []:
            if isinstance(raw_field, dict) and raw_field.get("type") == "subform":
                target = subform_target(raw_field)
                if target:
                    yield target

    def place_nested_sections(self) -> None:
        """Choose the record type of each nested section.

        A nested section stays with its parent_form unless only the fields of other record types
        use it. Then it moves to the first of those, and any others get copies.
        """
        users: dict[str, list[str]] = {}
        for section in self.sections.values():
            for target in self.subform_targets(section):
                users.setdefault(target, []).append(section.record_type)
        for section in self.sections.values():
            if not section.nested:
                continue
            record_types = users.get(section.primero_id, [])
            home = section.record_type
            if record_types and home not in record_types:
                home = min(record_types, key=self.record_type_rank)
            self.homes[section.primero_id] = home

    def record_type_rank(self, record_type: str) -> tuple[int, int]:
        if record_type in STANDARD_RECORD_TYPES:
            return (0, STANDARD_RECORD_TYPES.index(record_type))
        first = min(
            (s.index for s in self.sections.values() if s.record_type == record_type),
            default=0,
        )
        return (1, first)

    def record_type_order(self) -> list[str]:
        record_types = {s.record_type for s in self.sections.values()}
        return sorted(record_types | set(self.homes.values()), key=self.record_type_rank)

    def home_of(self, section: _Section) -> str:
        return self.homes.get(section.primero_id, section.record_type)

    # Record types ----------------------------------------------------------------------------

    def convert_record_type(self, record_type: str) -> dict[str, Any]:
        self.tracker.seen(RECORD_TYPE, record_type)
        if record_type not in STANDARD_RECORD_TYPES:
            self.tracker.change(
                RECORD_TYPE,
                record_type,
                "Tutela's standard record types are case, incident, tracing_request and "
                "family, so this one is imported as a record type of its own",
            )
        state = _RecordTypeState(record_type)
        ordinary = sorted(
            (s for s in self.sections.values() if not s.nested and s.record_type == record_type),
            key=_Section.display_order,
        )
        nested = sorted(
            (s for s in self.sections.values() if s.nested and self.home_of(s) == record_type),
            key=_Section.display_order,
        )
        groups, group_ids = self.convert_form_groups(record_type, ordinary)

        for section in ordinary:
            doc = self.convert_section(section, state, section.unique_id, subform=False)
            doc["form_group"] = group_ids.get(section.primero_id)
        for section in nested:
            if section.record_type != record_type:
                self.tracker.change(
                    FORM_SECTION,
                    f"{record_type}.{section.primero_id}",
                    f"moved from record type {section.record_type!r}, because only the fields "
                    f"of {record_type!r} use it as subform rows",
                )
            self.convert_section(section, state, section.unique_id, subform=True)

        self.resolve_subforms(state)
        self.check_sort_by(state)
        self.report_unused_subforms(state, nested)
        self.apply_conditions(state)
        self.check_subform_cycles(state)
        return {
            "unique_id": record_type,
            "name": {"en": humanise(record_type)},
            "form_groups": groups,
            "form_sections": list(state.sections.values()),
        }

    def convert_form_groups(
        self, record_type: str, sections: list[_Section]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Return the form groups of a record type and the group id of each section."""
        labels = self.form_group_labels(record_type)
        groups: dict[str, dict[str, Any]] = {}
        group_ids: dict[str, str] = {}
        for section in sections:
            primero_group = section.raw.get("form_group_id")
            group_id = normalise_unique_id(primero_group)
            if group_id is None:
                continue
            group_ids[section.primero_id] = group_id
            order = whole_number(section.raw.get("order_form_group")) or 0
            if group_id in groups:
                groups[group_id]["order"] = min(groups[group_id]["order"], order)
                continue

            item = f"{record_type}.{primero_group}"
            self.tracker.seen(FORM_GROUP, item)
            name = labels.get(str(primero_group)) or self.texts(section.raw, "form_group_name")
            if not name:
                name = {"en": humanise(str(primero_group))}
                self.tracker.change(
                    FORM_GROUP, item, "no form group lookup names it, so it is named after its id"
                )
            groups[group_id] = {"unique_id": group_id, "name": name, "order": order}
        return list(groups.values()), group_ids

    def form_group_labels(self, record_type: str) -> dict[str, dict[str, str]]:
        """Read the group labels that Primero keeps in `lookup-form-group-<module>-<type>`."""
        labels: dict[str, dict[str, str]] = {}
        lookup_suffix = record_type.replace("_", "-")
        for lookup in sorted(self.lookups, key=lambda lookup: lookup["unique_id"]):
            match = FORM_GROUP_LOOKUP.match(lookup["unique_id"])
            if match is None or match["record_type"] != lookup_suffix:
                continue
            for option in lookup["options"]:
                labels.setdefault(option["id"], option["label"])
        return labels

    def convert_section(
        self,
        section: _Section,
        state: _RecordTypeState,
        unique_id: str,
        *,
        subform: bool,
        item: str | None = None,
    ) -> dict[str, Any]:
        raw = section.raw
        item = item or f"{state.unique_id}.{section.primero_id}"
        self.tracker.seen(FORM_SECTION, item)
        if unique_id == section.unique_id != section.primero_id:
            self.tracker.change(FORM_SECTION, item, f"unique_id changed to {unique_id!r}")

        doc: dict[str, Any] = {
            "unique_id": unique_id,
            "name": self.label(self.texts(raw, "name"), section.primero_id, FORM_SECTION, item),
            "order": whole_number(raw.get("order")) or 0,
            "subform": subform,
            # Primero hides nested sections from its form list, and "subform" does that here.
            "visible": subform or raw.get("visible") is not False,
            "editable": True,
            "fields": [],
        }
        help_texts = self.texts(raw, "description") or self.texts(raw, "help_text")
        if help_texts:
            doc["help"] = help_texts
        self.note_section_properties(raw, item)

        scope = _Scope() if subform else state.scope
        if subform:
            state.section_scopes[unique_id] = scope
            if is_set(raw.get("display_conditions")):
                self.tracker.change(
                    FORM_SECTION,
                    item,
                    "its display condition is not kept, because the subform field decides "
                    "where its rows show",
                )
        elif raw.get("display_conditions") is not None:
            state.conditions.append(
                _PendingCondition(doc, raw["display_conditions"], scope.renamed, FORM_SECTION, item)
            )

        raw_fields = raw.get(section.fields_key) or []
        if not raw_fields:
            self.tracker.change(
                FORM_SECTION,
                item,
                "has no fields, so it is empty in Tutela, because Primero draws a form without "
                "fields (such as approvals or change logs) from its own code",
            )
        for index, raw_field in enumerate(raw_fields):
            path = f"{section.path}.{section.fields_key}[{index}]"
            context = _FieldContext(state, unique_id, item, path, subform, scope)
            converted = self.convert_field(raw_field, context)
            if converted is not None:
                doc["fields"].append(converted)
        self.check_calculations(doc, scope)
        state.sections[unique_id] = doc
        return doc

    def note_section_properties(self, raw: dict[str, Any], item: str) -> None:
        if raw.get("editable") is False:
            self.tracker.change(
                FORM_SECTION,
                item,
                "Primero locks this form in its form builder, but Tutela has no such lock, so "
                "caseworkers enter data in it as in Primero",
            )
        leftover = set(raw) - SECTION_PROPERTIES - SILENT_SECTION_PROPERTIES
        for key in sorted(leftover):
            if is_set(raw[key]) and not is_locale_variant(key, SECTION_TEXT_PROPERTIES):
                self.tracker.change(
                    FORM_SECTION, item, f"Primero property {key!r} has no counterpart, not kept"
                )

    # Fields ----------------------------------------------------------------------------------

    def convert_field(self, raw: Any, context: _FieldContext) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.problem(context.path, "must be an object describing one field.")
            return None
        original = raw.get("name")
        if not isinstance(original, str) or not original.strip():
            self.problem(f"{context.path}.name", "is missing: every field needs a name.")
            return None
        item = f"{context.item}.{original}"
        if self.tracker.has(FIELD, item):
            # A broken file may repeat a name within one form; keep the report entries apart.
            item = f"{item} ({context.path.rpartition('.')[2]})"
        self.tracker.seen(FIELD, item)

        name = normalise_field_name(original)
        if name is None:
            self.tracker.skip(FIELD, item, f"the name {original!r} has no letters or digits")
            return None
        if name != original:
            self.tracker.change(
                FIELD,
                item,
                f"renamed to {name!r}, because Tutela field names use lower-case letters, "
                "digits and '_', starting with a letter",
            )

        tutela_type = self.field_type(raw, item)
        if tutela_type is None:
            return None
        doc = self.field_document(raw, name, tutela_type, context, item)
        if doc is None:
            return None
        self.field_items[id(doc)] = item
        claimed = self.claim_name(doc, original, context, item)
        if claimed is not None and claimed["type"] == "subform":
            path = f"{context.path}.subform_unique_id"
            reference = _SubformReference(
                claimed, subform_target(raw), path, item, context.section_id
            )
            context.state.references.append(reference)
        return claimed

    def field_type(self, raw: dict[str, Any], item: str) -> str | None:
        primero_type = raw.get("type")
        if primero_type in UNSUPPORTED_FIELD_TYPES:
            self.tracker.skip(FIELD, item, UNSUPPORTED_FIELD_TYPES[primero_type])
            return None
        if primero_type not in FIELD_TYPES:
            self.tracker.skip(
                FIELD,
                item,
                f"{primero_type!r} is not a Primero field type that Tutela can import; "
                f"known types: {', '.join(sorted(FIELD_TYPES))}",
            )
            return None

        tutela_type = FIELD_TYPES[primero_type]
        calculation = raw.get("calculation")
        if tutela_type == "number" and is_set(calculation):
            if convert_calculation(calculation) is not None:
                return "calculated"
            self.tracker.change(
                FIELD,
                item,
                f"Primero calculates it ({calculation!r}), but Tutela can only add up or "
                "average fields, so caseworkers enter it",
            )
        if tutela_type == "date" and raw.get("date_include_time") is True:
            return "date_time"
        return tutela_type

    def field_document(
        self,
        raw: dict[str, Any],
        name: str,
        tutela_type: str,
        context: _FieldContext,
        item: str,
    ) -> dict[str, Any] | None:
        doc: dict[str, Any] = {
            "name": name,
            "type": tutela_type,
            "label": self.label(self.texts(raw, "display_name"), name, FIELD, item),
        }
        order = whole_number(raw.get("order"))
        if order is not None:
            doc["order"] = order
        for key, primero_key in (("help", "help_text"), ("guidance", "guiding_questions")):
            texts = self.texts(raw, primero_key)
            if texts:
                doc[key] = texts

        if not self.add_type_properties(doc, raw, context, item):
            return None
        self.add_flags(doc, raw, item)
        if not context.subform:
            self.add_role(doc)
        self.note_field_properties(raw, item)
        self.queue_condition(doc, raw, context, item)
        return doc

    def add_type_properties(
        self, doc: dict[str, Any], raw: dict[str, Any], context: _FieldContext, item: str
    ) -> bool:
        """Add what the field's type needs; return False when the field cannot be imported."""
        tutela_type = doc["type"]
        if tutela_type in OPTION_TYPES:
            options = self.field_options(raw, tutela_type, context.path, item)
            if options is None:
                return False
            doc["options"] = options
        if tutela_type == "select" and (
            raw.get("multi_select") is True or raw.get("type") == "check_boxes"
        ):
            doc["multi"] = True
        if tutela_type == "tick_box":
            tick_box_label = self.texts(raw, "tick_box_label")
            if tick_box_label:
                doc["tick_box_label"] = tick_box_label
        if tutela_type in ("date", "date_time"):
            self.add_date_validation(doc, raw, item)
        if tutela_type == "subform":
            return self.add_subform(doc, raw, context, item)
        if tutela_type == "calculated":
            return self.add_calculation(doc, raw, item)
        return True

    def add_date_validation(self, doc: dict[str, Any], raw: dict[str, Any], item: str) -> None:
        validation = raw.get("date_validation")
        if validation == "not_future_date":
            doc["not_future"] = True
        elif validation not in (None, "", "default_date_validation"):
            self.tracker.change(
                FIELD, item, f"date validation {validation!r} has no counterpart, not kept"
            )

    def add_subform(
        self, doc: dict[str, Any], raw: dict[str, Any], context: _FieldContext, item: str
    ) -> bool:
        if not subform_target(raw):
            self.problem(
                f"{context.path}.subform_unique_id",
                "is missing: a subform field names the form section whose fields make up its rows.",
            )
            return False
        # Primero v2 stores the sort order in subform_section_configuration; exports may also
        # carry it on the field itself.
        configuration = raw.get("subform_section_configuration")
        sort_by = raw.get("subform_sort_by")
        if sort_by is None and isinstance(configuration, dict):
            sort_by = configuration.get("subform_sort_by")
        if isinstance(sort_by, str) and sort_by:
            doc["sort_by"] = sort_by
        return True

    def add_calculation(self, doc: dict[str, Any], raw: dict[str, Any], item: str) -> bool:
        calculation = convert_calculation(raw.get("calculation"))
        if calculation is None:
            self.tracker.skip(
                FIELD,
                item,
                f"its calculation {raw.get('calculation')!r} is not a sum or average of fields, "
                "which is what Tutela can calculate",
            )
            return False
        doc["calculation"] = calculation
        return True

    def field_options(
        self, raw: dict[str, Any], tutela_type: str, path: str, item: str
    ) -> str | list[dict[str, Any]] | None:
        """Return the field's options: a source such as `lookup:<id>`, or an inline list."""
        keys = ["option_strings_text_i18n", "option_strings_text"]
        if tutela_type == "tally":
            keys = ["tally_i18n", "tally", *keys]
        for key in keys:
            inline = raw.get(key)
            if not is_set(inline):
                continue
            try:
                options, notes = merge_options(inline)
            except ValueError as e:
                self.problem(
                    f"{path}.{key}",
                    f"is not a list of options ({e}); give a list of "
                    '{"id": ..., "display_text": {"en": ...}} objects.',
                )
                return None
            for note in notes:
                self.tracker.change(FIELD, item, note)
            for option in options:
                self.locales.update(option["label"])
            return options

        source = raw.get("option_strings_source")
        if isinstance(source, str) and source.strip():
            return self.option_source(source.strip(), item)
        self.tracker.change(
            FIELD,
            item,
            "has no options in Primero, so it is imported with an empty list; add options "
            "before caseworkers use it",
        )
        return []

    def option_source(self, source: str, item: str) -> str | list[dict[str, Any]] | None:
        words = source.split()
        if words[0] == "lookup" and len(words) > 1:
            lookup_id = self.lookup_ids.get(words[-1])
            if lookup_id is not None:
                return f"lookup:{lookup_id}"
            # Primero shows such a field without options, so it is imported the same way.
            self.tracker.change(
                FIELD,
                item,
                f"names the lookup {words[-1]!r}, which the configuration does not have, so it "
                "is imported with an empty list of options; add the lookup and point the field "
                "at it",
            )
            return []
        if source == "ReportingLocation":
            self.tracker.change(
                FIELD,
                item,
                "Primero offers only the locations of its reporting level here, but Tutela "
                "offers every location",
            )
            return "location"
        sources = {"Location": "location", "Agency": "agency", "User": "user"}
        if source in sources:
            return sources[source]
        self.tracker.skip(
            FIELD,
            item,
            f"it takes its options from Primero's {source!r} list, which has no counterpart in "
            "Tutela",
        )
        return None

    def add_flags(self, doc: dict[str, Any], raw: dict[str, Any], item: str) -> None:
        visible = raw.get("visible") is not False
        editable = raw.get("editable") is not False and raw.get("disabled") is not True
        if not visible:
            doc["visible"] = False
        if not editable:
            doc["editable"] = False
        if raw.get("matchable") is True:
            doc["matchable"] = True
        if raw.get("show_on_minify_form") is True:
            doc["list"] = True
        if doc["type"] in ATTACHMENT_TYPES:
            doc["sensitive"] = True

        if raw.get("required") is not True or doc["type"] in ("separator", "calculated"):
            return
        if visible and editable:
            doc["required"] = True
        else:
            # Primero checks only the fields it shows; a hidden required field would block
            # every save in Tutela.
            self.tracker.change(
                FIELD,
                item,
                "no longer required, because it is hidden or read-only and could never be "
                "filled in",
            )

    @staticmethod
    def add_role(doc: dict[str, Any]) -> None:
        """Give Primero's core fields their Tutela role (`semantic`)."""
        name = doc["name"]
        if name in NAME_FIELDS:
            role = "name"
        elif name in ID_NUMBER_FIELDS:
            role = "id_number"
        elif name in OTHER_ROLE_FIELDS:
            role = OTHER_ROLE_FIELDS[name]
        else:
            return
        if doc["type"] not in ROLE_TYPES[role]:
            return
        doc["semantic"] = role
        if role in ("name", "id_number"):
            doc["searchable"] = True
        if role in ("name", "date_of_birth", "id_number"):
            doc["sensitive"] = True

    def note_field_properties(self, raw: dict[str, Any], item: str) -> None:
        for key in sorted(set(raw) - FIELD_PROPERTIES - SILENT_FIELD_PROPERTIES):
            value = raw[key]
            if not is_set(value) or is_locale_variant(key, FIELD_TEXT_PROPERTIES):
                continue
            if key in REPORTED_FIELD_PROPERTIES:
                self.tracker.change(FIELD, item, REPORTED_FIELD_PROPERTIES[key].format(value=value))
            else:
                self.tracker.change(
                    FIELD, item, f"Primero property {key!r} has no counterpart, not kept"
                )

    def queue_condition(
        self, doc: dict[str, Any], raw: dict[str, Any], context: _FieldContext, item: str
    ) -> None:
        """Keep the display condition for conversion once every field name is known."""
        key = "display_conditions_subform" if context.subform else "display_conditions_record"
        if is_set(raw.get(key)):
            context.state.conditions.append(
                _PendingCondition(doc, raw[key], context.scope.renamed, FIELD, item)
            )
        if context.subform and is_set(raw.get("display_conditions_record")):
            self.tracker.change(
                FIELD,
                item,
                "its display condition on the record's values is not kept, because Tutela's "
                "conditions in a subform name fields of the same row",
            )

    def claim_name(
        self, doc: dict[str, Any], original: str, context: _FieldContext, item: str
    ) -> dict[str, Any] | None:
        """Take the field's name in its scope; rename a duplicate separator, skip others."""
        scope = context.scope
        name = doc["name"]
        if name == "unique_id" and context.subform:
            self.tracker.skip(
                FIELD, item, "'unique_id' is the key of a subform row, so no field may use it"
            )
            return None
        if name in scope.owners:
            if doc["type"] != "separator":
                self.tracker.skip(
                    FIELD,
                    item,
                    f"{scope.owners[name]} has the same name, and Primero stores one value for "
                    "both, which Tutela shows in the first form only",
                )
                return None
            name = self.free_name(name, scope)
            self.tracker.change(
                FIELD, item, f"renamed to {name!r}, because another separator has its name"
            )
            doc["name"] = name
        scope.owners[name] = f"field {item}"
        scope.renamed.setdefault(original, name)
        return doc

    @staticmethod
    def free_name(name: str, scope: _Scope) -> str:
        number = 2
        while f"{name[: MAX_ID_LENGTH - 6]}_{number}" in scope.owners:
            number += 1
        return f"{name[: MAX_ID_LENGTH - 6]}_{number}"

    def check_calculations(self, section: dict[str, Any], scope: _Scope) -> None:
        """Turn a calculated field into a number field unless it adds up fields of its form."""
        numbers = {f["name"] for f in section["fields"] if f["type"] == "number"}
        for field_doc in section["fields"]:
            if field_doc["type"] != "calculated":
                continue
            names = [scope.renamed.get(name, name) for name in field_doc["calculation"]["fields"]]
            if set(names) <= numbers:
                field_doc["calculation"]["fields"] = names
                continue
            del field_doc["calculation"]
            field_doc["type"] = "number"
            self.tracker.change(
                FIELD,
                self.field_items[id(field_doc)],
                "Primero calculates it from fields that are not number fields of its own form, "
                "but Tutela calculates within one form only, so caseworkers enter it",
            )

    # Subforms --------------------------------------------------------------------------------

    def resolve_subforms(self, state: _RecordTypeState) -> None:
        """Point every subform field at a subform section of its own record type."""
        done = 0
        # Copying a section adds its own subform fields to the list, so it may grow here.
        while done < len(state.references):
            reference = state.references[done]
            done += 1
            target = self.sections.get(reference.target)
            if target is None:
                self.problem(
                    reference.path,
                    f"names the form section {reference.target!r}, which the configuration "
                    "does not have; add that section or remove the subform field.",
                )
                continue
            if target.nested and self.home_of(target) == state.unique_id:
                unique_id = target.unique_id
            else:
                unique_id = self.copy_subform(target, state, reference)
            reference.field_doc["subform"] = unique_id
            state.used.add(unique_id)

    def copy_subform(
        self, target: _Section, state: _RecordTypeState, reference: _SubformReference
    ) -> str:
        """Return the id of this record type's subform copy of `target`, made on first use."""
        if target.primero_id in state.copies:
            return state.copies[target.primero_id]
        suffix = "rows" if target.record_type == state.unique_id else state.unique_id
        unique_id = self.free_section_id(f"{target.unique_id[: MAX_ID_LENGTH - 40]}_{suffix}")
        state.copies[target.primero_id] = unique_id
        if target.nested:
            reason = (
                "Tutela's subform sections belong to one record type, and the original is in "
                f"{self.home_of(target)!r}"
            )
        else:
            reason = "Primero also shows that form on its own"
        item = f"{state.unique_id}.{unique_id}"
        self.tracker.change(
            FORM_SECTION,
            item,
            f"copy of form section {target.primero_id!r} for the subform field "
            f"{reference.item}, because {reason}",
        )
        self.convert_section(target, state, unique_id, subform=True, item=item)
        return unique_id

    def free_section_id(self, base: str) -> str:
        candidate = base
        number = 2
        while candidate in self.section_ids:
            candidate = f"{base}_{number}"
            number += 1
        self.section_ids.add(candidate)
        return candidate

    def check_sort_by(self, state: _RecordTypeState) -> None:
        for reference in state.references:
            doc = reference.field_doc
            sort_by = doc.get("sort_by")
            rows = state.section_scopes.get(doc.get("subform", ""))
            if sort_by is None or rows is None:
                continue
            name = rows.renamed.get(sort_by)
            if name is None:
                del doc["sort_by"]
                self.tracker.change(
                    FIELD,
                    reference.item,
                    f"sorting by {sort_by!r} not kept, because the rows have no such field",
                )
            else:
                doc["sort_by"] = name

    def report_unused_subforms(self, state: _RecordTypeState, nested: list[_Section]) -> None:
        for section in nested:
            if section.unique_id not in state.used:
                self.tracker.change(
                    FORM_SECTION,
                    f"{state.unique_id}.{section.primero_id}",
                    "no subform field uses this section, so it shows nowhere",
                )

    def check_subform_cycles(self, state: _RecordTypeState) -> None:
        """Report a subform that contains itself, with the Primero path of the field."""
        edges: dict[str, list[str]] = {}
        for reference in state.references:
            if "subform" in reference.field_doc:
                edges.setdefault(reference.section_id, []).append(reference.field_doc["subform"])

        def reaches(start: str, goal: str, seen: set[str]) -> bool:
            for target in edges.get(start, []):
                if target == goal or (
                    target not in seen and reaches(target, goal, seen | {target})
                ):
                    return True
            return False

        for reference in state.references:
            target = reference.field_doc.get("subform")
            if target is not None and (
                target == reference.section_id or reaches(target, reference.section_id, {target})
            ):
                self.problem(
                    reference.path,
                    f"makes the form section {reference.target!r} contain itself through its "
                    "subforms; remove the subform field or point it at another section.",
                )

    # Skip logic ------------------------------------------------------------------------------

    def apply_conditions(self, state: _RecordTypeState) -> None:
        for pending in state.conditions:
            condition = pending.condition
            if isinstance(condition, dict) and "disabled" in condition:
                if condition["disabled"] is True:
                    self.tracker.change(
                        pending.kind, pending.item, "its display condition is off in Primero"
                    )
                    continue
                condition = {k: v for k, v in condition.items() if k != "disabled"}
            try:
                pending.target["visible_if"] = convert_condition(condition, pending.names)
            except _Unconvertible as e:
                self.tracker.change(
                    pending.kind,
                    pending.item,
                    f"its display condition is not kept, so it always shows: {e}",
                )

    # Agencies and unsupported items ----------------------------------------------------------

    def convert_agencies(self, raw_agencies: list[Any]) -> list[dict[str, Any]]:
        agencies = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_agencies):
            path = f"data.data.Agency[{index}]"
            if not isinstance(raw, dict):
                self.problem(path, "must be an object describing one agency.")
                continue
            unique_id = raw.get("unique_id")
            if not isinstance(unique_id, str) or not unique_id.strip():
                self.problem(f"{path}.unique_id", "is missing: every agency needs a unique_id.")
                continue
            if len(unique_id) > MAX_ID_LENGTH:
                self.problem(
                    f"{path}.unique_id", f"is longer than {MAX_ID_LENGTH} characters; shorten it."
                )
                continue
            if unique_id in seen:
                reason = "another agency has the same unique_id"
                self.tracker.skip(AGENCY, f"{unique_id} ({path})", reason)
                continue
            self.tracker.seen(AGENCY, unique_id)
            seen.add(unique_id)
            agencies.append(self.convert_agency(raw, unique_id))
        return agencies

    def convert_agency(self, raw: dict[str, Any], unique_id: str) -> dict[str, Any]:
        code = raw.get("agency_code")
        code = code if isinstance(code, str) else ""
        if len(code) > MAX_AGENCY_CODE_LENGTH:
            self.tracker.change(
                AGENCY, unique_id, f"code shortened to {MAX_AGENCY_CODE_LENGTH} characters"
            )
            code = code[:MAX_AGENCY_CODE_LENGTH]
        dropped = sorted(
            key
            for key, value in raw.items()
            if key not in AGENCY_PROPERTIES
            and not is_locale_variant(key, ["name"])
            and is_set(value)
        )
        if dropped:
            self.tracker.change(
                AGENCY,
                unique_id,
                f"{', '.join(dropped)} not kept, because Tutela stores an agency's id, name, "
                "code and whether it is disabled",
            )
        return {
            "unique_id": unique_id,
            "name": self.label(self.texts(raw, "name"), unique_id, AGENCY, unique_id),
            "code": code,
            "disabled": raw.get("disabled") is True,
        }

    def report_unsupported_items(self) -> None:
        for key, items in self.content.items():
            if key in ("FormSection", "Lookup", "Agency", "Role", "UserGroup") or not items:
                continue
            kind, reason = UNSUPPORTED_ITEMS.get(
                key, (key, f"not supported, because the importer does not convert {key} items")
            )
            for index, raw in enumerate(items):
                self.tracker.skip(kind, self.item_name(raw, index), reason)

    @staticmethod
    def item_name(raw: Any, index: int) -> str:
        if isinstance(raw, dict):
            for key in ("unique_id", "name"):
                if isinstance(raw.get(key), str) and raw[key]:
                    return str(raw[key])
            texts = read_texts(raw, "name")
            if texts:
                return texts.get("en") or next(iter(texts.values()))
        return f"#{index + 1}"


# ---------------------------------------------------------------------------------------------
# Entry point


def import_primero(path: Path, *, dry_run: bool = False) -> ImportReport:
    """Convert the Primero configuration in `path` and load it; return what was done.

    Raise ConfigurationInvalid, with every problem and its path, when the file cannot be
    imported; the database is then unchanged. With `dry_run`, convert and check only.
    """
    configuration = read_configuration(path)
    tracker = _Tracker()
    converter = _Converter(configuration, tracker)
    document, agencies = converter.convert()

    # The conversion is meant to produce a valid document. A problem found here is a gap in
    # the importer, so it is reported with its path in the converted document.
    problems = schema.check_document(document)
    types = [rt["unique_id"] for rt in document["record_types"]]
    problems += [
        schema.Problem(path, message) for path, message in check_roles(converter.roles, types)
    ]
    if problems:
        raise schema.ConfigurationInvalid(
            [schema.Problem(f"converted document: {p.path}", p.message) for p in problems]
        )

    if not dry_run:
        with transaction.atomic():
            loading.load_configuration(document)
            save_agencies(agencies)
            save_roles_and_groups(converter.roles, converter.user_groups)

    report = tracker.report(describe_source(configuration), dry_run=dry_run)
    counts = report.counts()
    logger.info(
        "%s Primero configuration: %d form sections, %d fields, %d lookups, %d items changed, "
        "%d not supported",
        "Checked" if dry_run else "Imported",
        counts.get(FORM_SECTION, KindCounts()).total,
        counts.get(FIELD, KindCounts()).total,
        counts.get(LOOKUP, KindCounts()).total,
        len(report.changed),
        len(report.not_supported),
    )
    return report


def save_agencies(agencies: list[dict[str, Any]]) -> None:
    """Create or update the agencies by unique_id; agencies the file leaves out stay as they are."""
    for agency in agencies:
        Agency.objects.update_or_create(
            unique_id=agency["unique_id"],
            defaults={
                "name": agency["name"],
                "code": agency["code"],
                "disabled": agency["disabled"],
            },
        )
