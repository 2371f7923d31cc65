"""Validation of a configuration document (the format in docs/configuration-format.md).

`check_document` walks the whole document and returns every problem it finds, each with the
path of the offending item, so that an administrator can fix a file in one pass. It reads
nothing from the database: the document must be complete in itself.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

FORMAT = "tutela-configuration/1"
UNIQUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,99}$")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

FIELD_TYPES = frozenset(
    {
        "text",
        "textarea",
        "select",
        "radio",
        "tick_box",
        "number",
        "date",
        "date_time",
        "subform",
        "separator",
        "tally",
        "calculated",
        "photo",
        "audio",
        "document",
        "signature",
        "location",
    }
)
OPTION_FIELD_TYPES = frozenset({"select", "radio", "tally"})
OPTION_SOURCES = frozenset({"location", "agency", "user"})
SEMANTICS = frozenset({"name", "sex", "date_of_birth", "age", "location", "id_number"})
FLAGS = ("visible", "editable", "list", "searchable", "matchable", "sensitive")
CONDITION_OPERATORS = frozenset({"eq", "in", "gt", "lt"})

FIELD_KEYS = frozenset(
    {
        "name",
        "type",
        "label",
        "help",
        "order",
        "required",
        "min",
        "max",
        "min_length",
        "max_length",
        "integer",
        "pattern",
        "not_future",
        "options",
        "multi",
        "subform",
        "sort_by",
        "calculation",
        "semantic",
        "visible_if",
        "tick_box_label",
        "admin_level",
        "guidance",
        *FLAGS,
    }
)
SECTION_KEYS = frozenset(
    {
        "unique_id",
        "name",
        "help",
        "form_group",
        "order",
        "subform",
        "visible",
        "editable",
        "visible_if",
        "fields",
    }
)
RECORD_TYPE_KEYS = frozenset({"unique_id", "name", "form_groups", "form_sections", "order"})
DOCUMENT_KEYS = frozenset(
    {"format", "locales", "record_types", "lookups", "source", "roles", "user_groups", "retention"}
)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigurationInvalid(Exception):
    """A configuration document has problems; `problems` lists every one with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(str(problem) for problem in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"The configuration has {len(problems)} problem(s): {summary}{more}")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # Small typed checks. Each returns whether the value passed, so callers can stop early.

    def require_dict(self, value: Any, path: str) -> bool:
        if not isinstance(value, dict):
            self.add(path, f"must be an object, not {type(value).__name__}.")
            return False
        return True

    def require_list(self, value: Any, path: str) -> bool:
        if not isinstance(value, list):
            self.add(path, f"must be a list, not {type(value).__name__}.")
            return False
        return True

    def check_unique_id(self, value: Any, path: str) -> bool:
        if not isinstance(value, str) or not UNIQUE_ID.match(value):
            self.add(
                path,
                f"{value!r} is not a valid unique_id: use letters, digits, '_' and '-', "
                "at most 100 characters.",
            )
            return False
        return True

    def check_texts(self, value: Any, path: str, *, required: bool) -> None:
        """Check a per-locale text object such as {"en": "Sex", "fr": "Sexe"}."""
        if value is None and not required:
            return
        if not isinstance(value, dict):
            self.add(path, 'must be an object of texts per locale, such as {"en": "..."}.')
            return
        for locale, text in value.items():
            if not isinstance(text, str):
                self.add(f"{path}.{locale}", "must be a string.")
        if required and not (isinstance(value.get("en"), str) and value["en"].strip()):
            self.add(f"{path}.en", "is missing: every label needs at least an English text.")

    def check_unknown_keys(self, item: dict[str, Any], allowed: frozenset[str], path: str) -> None:
        for key in sorted(set(item) - allowed):
            self.add(
                f"{path}.{key}", f"is not a known property; allowed: {', '.join(sorted(allowed))}."
            )

    def check_bool(self, item: dict[str, Any], key: str, path: str) -> None:
        if key in item and not isinstance(item[key], bool):
            self.add(f"{path}.{key}", f"must be true or false, not {item[key]!r}.")


def check_document(document: Any) -> list[Problem]:
    """Return every problem in a configuration document; an empty list means it is valid."""
    checker = _Checker()
    if not checker.require_dict(document, "$"):
        return checker.problems

    checker.check_unknown_keys(document, DOCUMENT_KEYS, "$")
    if document.get("format") != FORMAT:
        checker.add("format", f"must be {FORMAT!r}, not {document.get('format')!r}.")
    locales = document.get("locales", ["en"])
    if not isinstance(locales, list) or not all(isinstance(x, str) for x in locales):
        checker.add("locales", 'must be a list of locale codes, such as ["en", "fr"].')

    lookups = _check_lookups(checker, document.get("lookups", []))
    record_types = document.get("record_types", [])
    if checker.require_list(record_types, "record_types"):
        _check_record_types(checker, record_types, lookups)
    if "retention" in document:
        _check_retention(checker, document["retention"], record_types)
    _check_access(checker, document, record_types)
    return checker.problems


def _check_access(checker: _Checker, document: dict[str, Any], record_types: Any) -> None:
    """Check the roles and user groups (see tutela.access.configuration)."""
    # Imported here: this module stays free of Django models at import time.
    from tutela.access.configuration import check_roles, check_user_groups

    type_ids = [
        rt["unique_id"]
        for rt in (record_types if isinstance(record_types, list) else [])
        if isinstance(rt, dict) and isinstance(rt.get("unique_id"), str)
    ]
    problems = []
    if "roles" in document:
        problems += check_roles(document["roles"], type_ids)
    if "user_groups" in document:
        problems += check_user_groups(document["user_groups"])
    for path, message in problems:
        checker.add(path, message)


def _check_retention(checker: _Checker, section: Any, record_types: Any) -> None:
    """Check the retention rules (see tutela.audit.retention_rules)."""
    # Imported here: this module stays free of Django models at import time.
    from tutela.audit.retention_rules import check_retention

    type_ids = [
        rt["unique_id"]
        for rt in (record_types if isinstance(record_types, list) else [])
        if isinstance(rt, dict) and isinstance(rt.get("unique_id"), str)
    ]
    for path, message in check_retention(section, type_ids):
        checker.add(path, message)


def _check_lookups(checker: _Checker, lookups: Any) -> set[str]:
    """Check the lookups and return the set of their unique_ids."""
    seen: set[str] = set()
    if not checker.require_list(lookups, "lookups"):
        return seen
    for index, lookup in enumerate(lookups):
        path = f"lookups[{index}]"
        if not checker.require_dict(lookup, path):
            continue
        checker.check_unknown_keys(lookup, frozenset({"unique_id", "name", "options"}), path)
        unique_id = lookup.get("unique_id")
        if checker.check_unique_id(unique_id, f"{path}.unique_id"):
            if unique_id in seen:
                checker.add(f"{path}.unique_id", f"{unique_id!r} is used by another lookup.")
            seen.add(unique_id)
        checker.check_texts(lookup.get("name"), f"{path}.name", required=True)
        _check_inline_options(checker, lookup.get("options"), f"{path}.options")
    return seen


def _check_inline_options(checker: _Checker, options: Any, path: str) -> None:
    if not checker.require_list(options, path):
        return
    ids: set[str] = set()
    for index, option in enumerate(options):
        option_path = f"{path}[{index}]"
        if not checker.require_dict(option, option_path):
            continue
        checker.check_unknown_keys(option, frozenset({"id", "label", "disabled"}), option_path)
        option_id = option.get("id")
        if not isinstance(option_id, str) or not option_id.strip():
            checker.add(f"{option_path}.id", "is missing: every option needs a text id.")
        elif option_id in ids:
            checker.add(f"{option_path}.id", f"{option_id!r} appears twice in this list.")
        else:
            ids.add(option_id)
        checker.check_texts(option.get("label"), f"{option_path}.label", required=True)
        checker.check_bool(option, "disabled", option_path)


@dataclass
class _SectionInfo:
    path: str
    is_subform: bool
    fields: dict[str, dict[str, Any]]
    subform_targets: list[tuple[str, str]]  # (field path, target section unique_id)


def _check_record_types(checker: _Checker, record_types: list[Any], lookups: set[str]) -> None:
    record_type_ids: set[str] = set()
    section_ids: set[str] = set()
    for index, record_type in enumerate(record_types):
        path = f"record_types[{index}]"
        if not checker.require_dict(record_type, path):
            continue
        checker.check_unknown_keys(record_type, RECORD_TYPE_KEYS, path)
        unique_id = record_type.get("unique_id")
        if checker.check_unique_id(unique_id, f"{path}.unique_id"):
            if unique_id in record_type_ids:
                checker.add(f"{path}.unique_id", f"{unique_id!r} is used by another record type.")
            record_type_ids.add(unique_id)
        checker.check_texts(record_type.get("name"), f"{path}.name", required=True)
        _check_record_type(checker, record_type, path, lookups, section_ids)


def _check_record_type(
    checker: _Checker,
    record_type: dict[str, Any],
    path: str,
    lookups: set[str],
    section_ids: set[str],
) -> None:
    groups = _check_form_groups(checker, record_type.get("form_groups", []), f"{path}.form_groups")

    sections = record_type.get("form_sections", [])
    if not checker.require_list(sections, f"{path}.form_sections"):
        return
    infos: dict[str, _SectionInfo] = {}
    top_level_names: dict[str, str] = {}
    for index, section in enumerate(sections):
        section_path = f"{path}.form_sections[{index}]"
        info = _check_section(checker, section, section_path, groups, lookups)
        if info is None:
            continue
        unique_id = section["unique_id"]
        if unique_id in section_ids:
            checker.add(f"{section_path}.unique_id", f"{unique_id!r} is used by another section.")
            continue
        section_ids.add(unique_id)
        infos[unique_id] = info
        if info.is_subform:
            continue
        for name in info.fields:
            if name in top_level_names:
                checker.add(
                    f"{section_path}.fields",
                    f"field name {name!r} is also used in {top_level_names[name]}; "
                    "field names must be unique within a record type.",
                )
            top_level_names[name] = section_path

    top_level_fields = {
        name: field
        for info in infos.values()
        if not info.is_subform
        for name, field in info.fields.items()
    }
    _check_subform_references(checker, infos)
    _check_logic(checker, sections, infos, top_level_fields, path)


def _check_form_groups(checker: _Checker, groups: Any, path: str) -> set[str]:
    seen: set[str] = set()
    if not checker.require_list(groups, path):
        return seen
    for index, group in enumerate(groups):
        group_path = f"{path}[{index}]"
        if not checker.require_dict(group, group_path):
            continue
        checker.check_unknown_keys(group, frozenset({"unique_id", "name", "order"}), group_path)
        unique_id = group.get("unique_id")
        if checker.check_unique_id(unique_id, f"{group_path}.unique_id"):
            if unique_id in seen:
                checker.add(f"{group_path}.unique_id", f"{unique_id!r} is used by another group.")
            seen.add(unique_id)
        checker.check_texts(group.get("name"), f"{group_path}.name", required=True)
    return seen


def _check_section(
    checker: _Checker, section: Any, path: str, groups: set[str], lookups: set[str]
) -> _SectionInfo | None:
    if not checker.require_dict(section, path):
        return None
    checker.check_unknown_keys(section, SECTION_KEYS, path)
    valid_id = checker.check_unique_id(section.get("unique_id"), f"{path}.unique_id")
    checker.check_texts(section.get("name"), f"{path}.name", required=True)
    checker.check_texts(section.get("help"), f"{path}.help", required=False)
    for key in ("subform", "visible", "editable"):
        checker.check_bool(section, key, path)
    group = section.get("form_group")
    if group is not None and group not in groups:
        checker.add(
            f"{path}.form_group",
            f"names the form group {group!r}, which this record type does not define.",
        )
    if "order" in section and not isinstance(section["order"], int):
        checker.add(f"{path}.order", "must be a whole number.")

    info = _SectionInfo(path, bool(section.get("subform")), {}, [])
    fields = section.get("fields", [])
    if not checker.require_list(fields, f"{path}.fields"):
        return info if valid_id else None
    for index, field in enumerate(fields):
        field_path = f"{path}.fields[{index}]"
        if not _check_field(checker, field, field_path, lookups):
            continue
        name = field["name"]
        if name in info.fields:
            checker.add(f"{field_path}.name", f"{name!r} is used by another field of this section.")
            continue
        info.fields[name] = field
        if field["type"] == "subform" and isinstance(field.get("subform"), str):
            info.subform_targets.append((f"{field_path}.subform", field["subform"]))
    return info if valid_id else None


def _check_field(checker: _Checker, field: Any, path: str, lookups: set[str]) -> bool:
    """Check one field on its own; return whether it is sound enough to index by name."""
    if not checker.require_dict(field, path):
        return False
    checker.check_unknown_keys(field, FIELD_KEYS, path)
    name = field.get("name")
    field_type = field.get("type")
    sound = True
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        checker.add(
            f"{path}.name",
            f"{name!r} is not a valid field name: use lower-case letters, digits and '_', "
            "starting with a letter.",
        )
        sound = False
    if field_type not in FIELD_TYPES:
        checker.add(
            f"{path}.type",
            f"{field_type!r} is not a field type; use one of {', '.join(sorted(FIELD_TYPES))}.",
        )
        sound = False
    checker.check_texts(field.get("label"), f"{path}.label", required=True)
    checker.check_texts(field.get("help"), f"{path}.help", required=False)
    checker.check_texts(field.get("tick_box_label"), f"{path}.tick_box_label", required=False)
    for key in (*FLAGS, "required", "multi", "integer", "not_future"):
        checker.check_bool(field, key, path)
    semantic = field.get("semantic")
    if semantic is not None and semantic not in SEMANTICS:
        checker.add(
            f"{path}.semantic",
            f"{semantic!r} is not a known role; use one of {', '.join(sorted(SEMANTICS))}.",
        )
    if not sound:
        return False

    _check_field_type_properties(checker, field, path, lookups)
    return True


def _check_field_type_properties(
    checker: _Checker, field: dict[str, Any], path: str, lookups: set[str]
) -> None:
    field_type = field["type"]
    options = field.get("options")
    if field_type in OPTION_FIELD_TYPES:
        if options is None:
            checker.add(f"{path}.options", f"is missing: a {field_type} field needs options.")
        elif isinstance(options, str):
            _check_option_source(checker, options, f"{path}.options", lookups)
        else:
            _check_inline_options(checker, options, f"{path}.options")
    elif options is not None:
        checker.add(f"{path}.options", "only select, radio and tally fields take options.")

    if field_type == "subform" and not isinstance(field.get("subform"), str):
        checker.add(f"{path}.subform", "is missing: name the subform section's unique_id.")
    if field_type == "calculated":
        _check_calculation_shape(checker, field.get("calculation"), f"{path}.calculation")
    if "pattern" in field:
        try:
            re.compile(field["pattern"])
        except (re.error, TypeError) as e:
            checker.add(f"{path}.pattern", f"is not a valid regular expression: {e}.")
    for key in ("min", "max"):
        if key not in field:
            continue
        value = field[key]
        if field_type == "date":
            if not (isinstance(value, str) and DATE.match(value)):
                checker.add(f"{path}.{key}", f"must be a date as YYYY-MM-DD, not {value!r}.")
        elif not isinstance(value, int | float) or isinstance(value, bool):
            checker.add(f"{path}.{key}", f"must be a number, not {value!r}.")
    for key in ("min_length", "max_length", "admin_level"):
        if key in field and (not isinstance(field[key], int) or field[key] < 0):
            checker.add(f"{path}.{key}", "must be a whole number of 0 or more.")
    if (
        "admin_level" in field
        and isinstance(field["admin_level"], int)
        and field["admin_level"] > 5
    ):
        checker.add(f"{path}.admin_level", "must be between 0 and 5.")


def _check_option_source(checker: _Checker, source: str, path: str, lookups: set[str]) -> None:
    if source in OPTION_SOURCES:
        return
    if source.startswith("lookup:"):
        lookup = source.removeprefix("lookup:")
        if lookup not in lookups:
            checker.add(
                path, f"names the lookup {lookup!r}, which the configuration does not define."
            )
        return
    checker.add(
        path,
        f"{source!r} is not an option source; use 'lookup:<unique_id>', 'location', 'agency', "
        "'user' or a list of options.",
    )


def _check_calculation_shape(checker: _Checker, calculation: Any, path: str) -> None:
    if not checker.require_dict(calculation, path):
        return
    op = calculation.get("op")
    if op in ("sum", "average"):
        fields = calculation.get("fields")
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) for f in fields)
        ):
            checker.add(f"{path}.fields", "must list the names of the number fields to combine.")
    elif op == "age":
        if not isinstance(calculation.get("field"), str):
            checker.add(f"{path}.field", "must name the date of birth field.")
    else:
        checker.add(f"{path}.op", f"{op!r} is not a calculation; use sum, average or age.")


def _check_subform_references(checker: _Checker, infos: dict[str, _SectionInfo]) -> None:
    """Every subform field names a subform section of the same record type, with no cycle."""
    for info in infos.values():
        for field_path, target in info.subform_targets:
            target_info = infos.get(target)
            if target_info is None:
                checker.add(
                    field_path,
                    f"names the section {target!r}, which this record type does not define.",
                )
            elif not target_info.is_subform:
                checker.add(
                    field_path,
                    f"names the section {target!r}, which is not marked as a subform section "
                    '("subform": true).',
                )

    for unique_id in infos:
        cycle = _find_cycle(unique_id, infos, [])
        if cycle and cycle[0] == unique_id:
            checker.add(
                infos[unique_id].path,
                f"subforms form a cycle: {' -> '.join([*cycle, cycle[0]])}; "
                "a subform cannot contain itself.",
            )


def _find_cycle(start: str, infos: dict[str, _SectionInfo], trail: list[str]) -> list[str]:
    if start in trail:
        return trail[trail.index(start) :]
    info = infos.get(start)
    if info is None:
        return []
    for _, target in info.subform_targets:
        cycle = _find_cycle(target, infos, [*trail, start])
        if cycle:
            return cycle
    return []


def _check_logic(
    checker: _Checker,
    sections: list[Any],
    infos: dict[str, _SectionInfo],
    top_level_fields: dict[str, dict[str, Any]],
    path: str,
) -> None:
    """Check skip-logic conditions and calculations against the fields they name."""
    for index, section in enumerate(sections):
        if not isinstance(section, dict) or section.get("unique_id") not in infos:
            continue
        info = infos[section["unique_id"]]
        scope = info.fields if info.is_subform else top_level_fields
        section_path = f"{path}.form_sections[{index}]"
        if section.get("visible_if") is not None:
            _check_condition(checker, section["visible_if"], f"{section_path}.visible_if", scope)
        for field_index, field in enumerate(section.get("fields") or []):
            if not isinstance(field, dict) or field.get("name") not in info.fields:
                continue
            field_path = f"{section_path}.fields[{field_index}]"
            if field.get("visible_if") is not None:
                _check_condition(checker, field["visible_if"], f"{field_path}.visible_if", scope)
            if field.get("type") == "calculated" and isinstance(field.get("calculation"), dict):
                _check_calculation_fields(
                    checker, field["calculation"], f"{field_path}.calculation", info.fields
                )


def _check_calculation_fields(
    checker: _Checker,
    calculation: dict[str, Any],
    path: str,
    section_fields: dict[str, dict[str, Any]],
) -> None:
    if calculation.get("op") == "age":
        source = calculation.get("field")
        target = section_fields.get(source) if isinstance(source, str) else None
        if target is None or target.get("type") != "date":
            checker.add(f"{path}.field", f"{source!r} is not a date field of this section.")
        return
    for name in calculation.get("fields") or []:
        target = section_fields.get(name)
        if target is None or target.get("type") != "number":
            checker.add(f"{path}.fields", f"{name!r} is not a number field of this section.")


def _check_condition(
    checker: _Checker, condition: Any, path: str, scope: dict[str, dict[str, Any]]
) -> None:
    if not checker.require_dict(condition, path):
        return
    for key in ("and", "or"):
        if key in condition:
            parts = condition[key]
            if not isinstance(parts, list) or not parts:
                checker.add(f"{path}.{key}", "must be a non-empty list of conditions.")
                return
            for index, part in enumerate(parts):
                _check_condition(checker, part, f"{path}.{key}[{index}]", scope)
            return
    if "not" in condition:
        _check_condition(checker, condition["not"], f"{path}.not", scope)
        return

    checker.check_unknown_keys(condition, frozenset({"field", "op", "value"}), path)
    name = condition.get("field")
    if name not in scope:
        checker.add(f"{path}.field", f"names the field {name!r}, which is not in scope here.")
    op = condition.get("op")
    if op not in CONDITION_OPERATORS:
        checker.add(f"{path}.op", f"{op!r} is not an operator; use eq, in, gt or lt.")
    elif op == "in" and not isinstance(condition.get("value"), list):
        checker.add(f"{path}.value", "must be a list for the operator 'in'.")
    elif "value" not in condition:
        checker.add(f"{path}.value", "is missing.")


def iter_fields(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Yield (record type unique_id, section, field) for every field of a valid document."""
    for record_type in document.get("record_types", []):
        for section in record_type.get("form_sections", []):
            for field in section.get("fields", []):
                yield record_type["unique_id"], section, field
