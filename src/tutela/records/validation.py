"""Validate record values against the configuration in force.

`clean_changes` takes the values a user or client sent, checks each against its field's type,
options, validation rules and skip logic, and returns them normalised, with calculated fields
recomputed. It collects every problem before raising, so a form shows all its errors at once.
Messages name the field and the fix; they repeat the value only for fields not marked sensitive.
They are translated into the language active when the problem is found (the request's).
Each message is shown under the field's label or beside its path, and a field may have several,
each a sentence of its own.
"""

import contextlib
import datetime as dt
import math
import re
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tutela.access.models import Agency, User
from tutela.configuration.forms import FormDefinition, SectionDef
from tutela.configuration.models import Field, Location

ATTACHMENT_TYPES = {"photo", "audio", "document", "signature"}
EARLIEST_DATE = "1900-01-01"


@dataclass(frozen=True)
class FieldProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RecordInvalid(Exception):
    """The values sent for a record are invalid; `problems` lists each with its field path."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        # Only paths go into the exception text: it may reach a log, values must not.
        super().__init__(f"Invalid values for: {', '.join(p.path for p in problems)}")

    def by_path(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for problem in self.problems:
            result.setdefault(problem.path, []).append(problem.message)
        return result


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def show(field: Field, value: Any) -> str:
    """Quote a rejected value in a message, unless the field holds sensitive data."""
    if field.sensitive:
        # Translators: replaces a value that is not repeated because the field is sensitive.
        return _("the value")
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Cleaner:
    def __init__(self, form: FormDefinition, *, enforce_editable: bool) -> None:
        self.form = form
        self.enforce_editable = enforce_editable
        self.problems: list[FieldProblem] = []
        # Values whose existence needs a query, checked together at the end.
        self.locations: list[tuple[str, Field, str]] = []
        self.agencies: list[tuple[str, Field, str]] = []
        self.users: list[tuple[str, Field, str]] = []
        self.attachments: list[tuple[str, str]] = []
        # The record being changed; None while it is created, when it can have no attachments.
        self.record_id: uuid.UUID | str | None = None

    def add(self, path: str, message: str) -> None:
        self.problems.append(FieldProblem(path, message))

    def add_required(self, path: str) -> None:
        """Report a missing value, unless the value given was rejected for another reason."""
        if any(problem.path == path for problem in self.problems):
            return
        self.add(path, _("This field is required."))

    def clean_fields(
        self, values: Any, fields: dict[str, Field], archived: dict[str, Field], prefix: str
    ) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        for name, value in values.items():
            path = f"{prefix}{name}"
            field = fields.get(name)
            if field is None:
                if name in archived:
                    self.add(
                        path,
                        _(
                            "this field was removed from the configuration; its stored values "
                            "are kept, but it takes no new values."
                        ),
                    )
                else:
                    self.add(path, _("is not a field of this form; remove it or check its name."))
                continue
            if self.enforce_editable and not (field.editable and field.section.editable):
                self.add(path, _("cannot be changed: the configuration marks it as not editable."))
                continue
            if field.type == "calculated":
                self.add(path, _("is calculated from other fields and cannot be set."))
                continue
            if field.type == "separator":
                self.add(path, _("is a separator and holds no value."))
                continue
            if is_empty(value):
                cleaned[name] = None
                continue
            cleaned[name] = self.clean_value(field, value, path)
        return cleaned

    def clean_value(self, field: Field, value: Any, path: str) -> Any:
        method = getattr(self, f"clean_{field.type}", None)
        if method is None:
            self.add(path, _("has the unsupported type %(type)s.") % {"type": repr(field.type)})
            return None
        return method(field, value, path)

    def clean_text(self, field: Field, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, _("must be text, not %(type)s.") % {"type": type(value).__name__})
            return None
        text: str = value.strip()
        max_length = field.spec.get("max_length", 100_000)
        if len(text) > max_length:
            message = ngettext(
                "is %(length)d character long; the maximum is %(maximum)d.",
                "is %(length)d characters long; the maximum is %(maximum)d.",
                len(text),
            )
            self.add(path, message % {"length": len(text), "maximum": max_length})
        min_length = field.spec.get("min_length")
        if min_length and len(text) < min_length:
            message = ngettext(
                "is %(length)d character long; the minimum is %(minimum)d.",
                "is %(length)d characters long; the minimum is %(minimum)d.",
                len(text),
            )
            self.add(path, message % {"length": len(text), "minimum": min_length})
        pattern = field.spec.get("pattern")
        if pattern and not re.fullmatch(pattern, text):
            self.add(
                path,
                _("%(value)s does not have the expected form (%(pattern)s).")
                % {"value": show(field, text), "pattern": pattern},
            )
        return text

    def clean_textarea(self, field: Field, value: Any, path: str) -> str | None:
        return self.clean_text(field, value, path)

    def clean_select(self, field: Field, value: Any, path: str) -> Any:
        if field.spec.get("multi"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.add(path, _("must be a list of option ids."))
                return None
            for item in value:
                self.check_option(field, item, path)
            # Stored in the options' order, so that the same choices in another order are no
            # change (and make no history row).
            order = {option["id"]: i for i, option in enumerate(self.form.options(field) or [])}
            return sorted(dict.fromkeys(value), key=lambda item: order.get(item, len(order)))
        if not isinstance(value, str):
            self.add(path, not_one_option(value))
            return None
        self.check_option(field, value, path)
        return value

    def clean_radio(self, field: Field, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.add(path, not_one_option(value))
            return None
        self.check_option(field, value, path)
        return value

    def check_option(self, field: Field, value: str, path: str) -> None:
        source = field.spec.get("options")
        if source == "location":
            self.locations.append((value, field, path))
            return
        if source == "agency":
            self.agencies.append((value, field, path))
            return
        if source == "user":
            self.users.append((value, field, path))
            return
        options = self.form.options(field) or []
        if not any(option["id"] == value for option in options):
            choices = ", ".join(option["id"] for option in options[:12])
            self.add(
                path,
                _("%(value)s is not one of the options (%(choices)s).")
                % {"value": show(field, value), "choices": choices},
            )

    def clean_tick_box(self, field: Field, value: Any, path: str) -> bool | None:
        if isinstance(value, bool):
            return value
        if value in ("true", "on", "1"):
            return True
        if value in ("false", "off", "0"):
            return False
        self.add(path, _("must be true or false, not %(value)s.") % {"value": show(field, value)})
        return None

    def clean_number(self, field: Field, value: Any, path: str) -> int | float | None:
        number: int | float
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.add(path, _("must be a number, not %(value)s.") % {"value": show(field, value)})
            return None
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            self.add(path, _("%(value)s is not a number.") % {"value": show(field, value)})
            return None
        if not math.isfinite(number):
            self.add(path, _("must be a finite number."))
            return None
        if float(number).is_integer():
            number = int(number)
        elif field.spec.get("integer"):
            self.add(
                path, _("must be a whole number, not %(value)s.") % {"value": show(field, value)}
            )
            return None
        if "min" in field.spec and number < field.spec["min"]:
            self.add(path, _("must be at least %(minimum)s.") % {"minimum": field.spec["min"]})
        if "max" in field.spec and number > field.spec["max"]:
            self.add(path, _("must be at most %(maximum)s.") % {"maximum": field.spec["max"]})
        return number

    def clean_date(self, field: Field, value: Any, path: str) -> str | None:
        try:
            date = dt.date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            date = None
        if date is None or len(value) != 10:
            self.add(
                path,
                _("%(value)s is not a date; write it as YYYY-MM-DD.")
                % {"value": show(field, value)},
            )
            return None
        if field.spec.get("not_future") and date > timezone.localdate():
            self.add(
                path,
                _("%(value)s is in the future; give a date up to today.")
                % {"value": show(field, value)},
            )
        # Without a configured minimum, dates before EARLIEST_DATE are typing mistakes (1800
        # for 2008); a configuration that needs older dates sets "min".
        earliest = field.spec.get("min", EARLIEST_DATE)
        if value < earliest:
            self.add(path, _("must be on or after %(date)s.") % {"date": earliest})
        if "max" in field.spec and value > field.spec["max"]:
            self.add(path, _("must be on or before %(date)s.") % {"date": field.spec["max"]})
        return date.isoformat()

    def clean_date_time(self, field: Field, value: Any, path: str) -> str | None:
        try:
            moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            self.add(
                path,
                _(
                    "%(value)s is not a date and time; write it as YYYY-MM-DDTHH:MM with a "
                    "time zone offset, such as 2024-05-01T14:30+02:00."
                )
                % {"value": show(field, value)},
            )
            return None
        if moment.tzinfo is None:
            self.add(path, _("needs a time zone offset, such as +00:00 or Z."))
            return None
        moment = moment.astimezone(dt.UTC)
        if field.spec.get("not_future") and moment > timezone.now():
            self.add(path, _("is in the future; give a moment up to now."))
        return moment.isoformat().replace("+00:00", "Z")

    def clean_subform(self, field: Field, value: Any, path: str) -> list[dict[str, Any]] | None:
        section = self.form.subform_of(field)
        if not isinstance(value, list):
            self.add(path, _("must be a list of rows."))
            return None
        rows: list[dict[str, Any]] = []
        keys: set[str] = set()
        for index, row in enumerate(value):
            row_path = f"{path}[{index}]"
            if not isinstance(row, dict):
                self.add(row_path, _("must be an object of field values."))
                continue
            key = row.get("unique_id")
            if not isinstance(key, str) or not key.strip():
                self.add(
                    f"{row_path}.unique_id",
                    _("is missing: every subform row needs a unique_id that identifies it."),
                )
                continue
            if key in keys:
                self.add(
                    f"{row_path}.unique_id",
                    _("%(key)s is used by another row.") % {"key": repr(key)},
                )
                continue
            keys.add(key)
            values = {k: v for k, v in row.items() if k != "unique_id"}
            cleaned = self.clean_fields(values, section.by_name, {}, f"{row_path}.")
            cleaned = {k: v for k, v in cleaned.items() if v is not None}
            self.check_row_logic(section, cleaned, row_path)
            rows.append({"unique_id": key, **cleaned, **calculate(section, cleaned)})
        return rows

    def check_row_logic(self, section: SectionDef, row: dict[str, Any], prefix: str) -> None:
        for field in section.fields:
            shown = condition_holds(field.spec.get("visible_if"), row)
            if not shown and not is_empty(row.get(field.name)):
                self.add(
                    f"{prefix}.{field.name}", _("is hidden by its condition and takes no value.")
                )
            if shown and field.spec.get("required") and is_empty(row.get(field.name)):
                self.add_required(f"{prefix}.{field.name}")

    def clean_tally(self, field: Field, value: Any, path: str) -> dict[str, int] | None:
        if not isinstance(value, dict):
            self.add(path, _("must be an object of option id to count."))
            return None
        options = {option["id"] for option in self.form.options(field) or []}
        for key, count in value.items():
            if key not in options:
                self.add(f"{path}.{key}", _("is not one of the options."))
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.add(f"{path}.{key}", _("must be a whole number of 0 or more."))
        return dict(value)

    def clean_attachments(self, field: Field, value: Any, path: str) -> list[str] | None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(path, _("must be a list of attachment ids."))
            return None
        self.attachments.extend((attachment_id, path) for attachment_id in value)
        return value

    clean_photo = clean_audio = clean_document = clean_signature = clean_attachments

    def clean_location(self, field: Field, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, _("must be a location code."))
            return None
        self.locations.append((value, field, path))
        return value

    def check_attachments(self) -> None:
        """Check that every attachment id belongs to the record being changed."""
        from tutela.attachments.models import Attachment

        wanted = set()
        for attachment_id, _path in self.attachments:
            with contextlib.suppress(ValueError):
                wanted.add(uuid.UUID(attachment_id))
        known: set[str] = set()
        if wanted and self.record_id is not None:
            rows = Attachment.objects.filter(record_id=self.record_id, id__in=wanted)
            known = {str(pk) for pk in rows.values_list("id", flat=True)}
        for attachment_id, path in self.attachments:
            if attachment_id.lower() not in known:
                self.add(
                    path,
                    _("%(value)s is not a file attached to this record; upload it first.")
                    % {"value": repr(attachment_id[:40])},
                )

    def check_references(self) -> None:
        """Check that named locations, agencies and users exist, one query per kind."""
        if self.attachments:
            self.check_attachments()
        if self.locations:
            codes = {code for code, _, _ in self.locations}
            found = dict(
                Location.objects.filter(unique_id__in=codes, disabled=False).values_list(
                    "unique_id", "admin_level"
                )
            )
            for code, field, path in self.locations:
                level = field.spec.get("admin_level")
                if code not in found:
                    self.add(
                        path,
                        _("%(value)s is not a known location code.") % {"value": show(field, code)},
                    )
                elif level is not None and found[code] > level:
                    self.add(
                        path,
                        _("must be a location of admin level %(level)s or above.")
                        % {"level": level},
                    )
        if self.agencies:
            known = set(
                Agency.objects.filter(unique_id__in={a for a, _, _ in self.agencies}).values_list(
                    "unique_id", flat=True
                )
            )
            for agency, field, path in self.agencies:
                if agency not in known:
                    self.add(
                        path, _("%(value)s is not a known agency.") % {"value": show(field, agency)}
                    )
        if self.users:
            names = {u for u, _, _ in self.users}
            known = set(User.objects.filter(username__in=names).values_list("username", flat=True))
            for username, field, path in self.users:
                if username not in known:
                    self.add(
                        path, _("%(value)s is not a known user.") % {"value": show(field, username)}
                    )


def not_one_option(value: Any) -> str:
    return _("must be one option id, not %(type)s.") % {"type": type(value).__name__}


# Characters no value may hold: U+0000 (PostgreSQL cannot store it), lone UTF-16 surrogates
# (not encodable as UTF-8), and the bidirectional embedding, override and isolate controls,
# which can reverse the text displayed after a value ("Trojan source" style spoofing).
UNSTORABLE = re.compile("[\x00\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def find_unstorable_text(value: Any, path: str) -> Iterator[str]:
    """Yield the paths of strings (keys included) that contain a character of UNSTORABLE."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            if UNSTORABLE.search(key_text):
                yield f"{path}.{UNSTORABLE.sub('?', key_text)}".lstrip(".")
            else:
                yield from find_unstorable_text(item, f"{path}.{key_text}".lstrip("."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_unstorable_text(item, f"{path}[{index}]")


def condition_holds(condition: Any, values: dict[str, Any]) -> bool:
    """Evaluate a skip-logic condition (see docs/configuration-format.md) against values."""
    if not condition:
        return True
    if "and" in condition:
        return all(condition_holds(part, values) for part in condition["and"])
    if "or" in condition:
        return any(condition_holds(part, values) for part in condition["or"])
    if "not" in condition:
        return not condition_holds(condition["not"], values)

    actual = values.get(condition["field"])
    expected = condition.get("value")
    op = condition["op"]
    actual_items = actual if isinstance(actual, list) else [actual]
    if op == "eq":
        return expected in actual_items
    if op == "in":
        return any(item in expected for item in actual_items)
    if actual is None or isinstance(actual, list | dict):
        return False
    try:
        return bool(actual > expected) if op == "gt" else bool(actual < expected)
    except TypeError:
        return False


def calculate(section: SectionDef, values: dict[str, Any]) -> dict[str, Any]:
    """Compute the calculated fields of one section (or subform row) from `values`."""
    results: dict[str, Any] = {}
    for field in section.fields:
        if field.type != "calculated":
            continue
        spec = field.spec["calculation"]
        if spec["op"] == "age":
            results[field.name] = age_from_birth_date(values.get(spec["field"]))
            continue
        numbers = [
            values[name]
            for name in spec["fields"]
            if isinstance(values.get(name), int | float) and not isinstance(values[name], bool)
        ]
        if not numbers:
            results[field.name] = None
        elif spec["op"] == "sum":
            results[field.name] = sum(numbers)
        else:
            results[field.name] = round(sum(numbers) / len(numbers), 2)
    return results


def age_from_birth_date(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        born = dt.date.fromisoformat(value)
    except ValueError:
        return None
    today = timezone.localdate()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def section_shown(section: SectionDef, values: dict[str, Any]) -> bool:
    return section.section.visible and condition_holds(section.section.visible_if, values)


def field_shown(form: FormDefinition, field: Field, values: dict[str, Any]) -> bool:
    section = form.section_of[field.name]
    return section_shown(section, values) and condition_holds(field.spec.get("visible_if"), values)


def clean_changes(
    form: FormDefinition,
    changes: Any,
    current: dict[str, Any],
    *,
    creating: bool,
    enforce_editable: bool = True,
    required_sections: Collection[str] | None = None,
    record_id: uuid.UUID | str | None = None,
) -> dict[str, Any]:
    """Return the normalised changes, calculated fields included; raise RecordInvalid.

    Required fields are checked in every section that the changes touch and in the sections
    named by `required_sections` (those the caller's form showed, even if left empty).
    """
    if not isinstance(changes, dict):
        raise RecordInvalid([FieldProblem("$", _("must be an object of field values."))])
    bad_paths = list(find_unstorable_text(changes, ""))
    if bad_paths:
        raise RecordInvalid(
            [
                FieldProblem(
                    path or "$",
                    _(
                        "contains a control character that cannot be stored (NUL, a lone "
                        "surrogate or a text direction override); remove it."
                    ),
                )
                for path in bad_paths
            ]
        )

    cleaner = _Cleaner(form, enforce_editable=enforce_editable)
    cleaner.record_id = record_id
    cleaned = cleaner.clean_fields(changes, form.fields, form.archived_fields, "")
    cleaner.check_references()

    merged = {**current, **cleaned}
    for name, value in cleaned.items():
        if not is_empty(value) and not field_shown(form, form.fields[name], merged):
            cleaner.add(name, _("is hidden by its condition (skip logic) and takes no value."))

    # Required fields are checked per section, as a form is completed: in the sections the
    # values touch, plus those the caller's form showed. Sections filled in later (assessment,
    # closure) do not block registering a record.
    touched = {form.section_of[name].unique_id for name in cleaned}
    touched |= set(required_sections or ())
    for section in form.sections:
        if section.unique_id not in touched or not section_shown(section, merged):
            continue
        for field in section.fields:
            missing = field.spec.get("required") and is_empty(merged.get(field.name))
            if missing and condition_holds(field.spec.get("visible_if"), merged):
                cleaner.add_required(field.name)

    if cleaner.problems:
        raise RecordInvalid(cleaner.problems)

    for section in form.sections:
        for name, value in calculate(section, merged).items():
            if merged.get(name) != value:
                cleaned[name] = value
    return cleaned
