"""Load a configuration document into the database, and write the current one back out.

Loading is all or nothing: the document is checked in full first (`schema.check_document`),
then applied in one transaction under an advisory lock. Items are matched by `unique_id`.
Sections and fields that the document no longer has are archived, never deleted, so the values
records hold for them stay readable.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, models, transaction

from tutela.access.configuration import apply_roles, apply_user_groups, dump_roles, dump_user_groups
from tutela.audit.retention_rules import apply_retention, dump_retention
from tutela.configuration import schema
from tutela.configuration.models import (
    ConfigurationState,
    Field,
    FormGroup,
    FormSection,
    Lookup,
    RecordType,
)

logger = logging.getLogger(__name__)

# Key for pg_advisory_xact_lock: serializes configuration changes across processes.
CONFIGURATION_LOCK = 7_410_001

# Field document keys kept in their own columns; everything else goes to Field.spec.
FIELD_COLUMNS = {
    "name",
    "type",
    "label",
    "help",
    "order",
    "visible",
    "editable",
    "list",
    "searchable",
    "matchable",
    "sensitive",
    "semantic",
}


@dataclass
class LoadSummary:
    record_types: int = 0
    sections: int = 0
    fields: int = 0
    lookups: int = 0
    archived_fields: list[str] = field(default_factory=list)
    archived_sections: list[str] = field(default_factory=list)


def read_document(path: Path) -> Any:
    """Read a JSON configuration file, with a clear message for a file that is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise schema.ConfigurationInvalid(
            [schema.Problem(str(path), f"is not UTF-8 text (byte {e.start}); save it as UTF-8.")]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise schema.ConfigurationInvalid(
            [
                schema.Problem(
                    str(path),
                    f"is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}. "
                    "Check that the file is complete and not truncated.",
                )
            ]
        ) from None


def field_unique_id(record_type: str, section: dict[str, Any], name: str) -> str:
    if section.get("subform"):
        return f"{record_type}.{section['unique_id']}.{name}"
    return f"{record_type}.{name}"


def load_configuration(document: Any) -> LoadSummary:
    """Check `document` and apply it; raise ConfigurationInvalid with every problem found."""
    problems = schema.check_document(document)
    if problems:
        raise schema.ConfigurationInvalid(problems)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CONFIGURATION_LOCK])
        summary = LoadSummary()
        _apply_lookups(document.get("lookups", []), summary)
        for order, record_type_doc in enumerate(document.get("record_types", [])):
            _apply_record_type(record_type_doc, order, summary)
        if "retention" in document:
            apply_retention(document["retention"])
        _apply_access(document)
        invalidate_cache()
    logger.info(
        "Loaded configuration: %d record types, %d sections, %d fields, %d lookups, "
        "%d fields archived",
        summary.record_types,
        summary.sections,
        summary.fields,
        summary.lookups,
        len(summary.archived_fields),
    )
    return summary


def _apply_access(document: dict[str, Any]) -> None:
    """Load roles and user groups when the document has them; leave them alone otherwise."""
    if "user_groups" in document:
        apply_user_groups(document["user_groups"])
    if "roles" in document:
        apply_roles(document["roles"])


def invalidate_cache() -> None:
    """Move the configuration generation on, so every process rebuilds its compiled forms."""
    from tutela.configuration.forms import clear_form_cache

    state, _ = ConfigurationState.objects.get_or_create(pk=1)
    ConfigurationState.objects.filter(pk=state.pk).update(generation=models.F("generation") + 1)
    clear_form_cache()


def _apply_lookups(lookups: list[dict[str, Any]], summary: LoadSummary) -> None:
    for lookup_doc in lookups:
        Lookup.objects.update_or_create(
            unique_id=lookup_doc["unique_id"],
            defaults={"name": lookup_doc["name"], "options": lookup_doc.get("options", [])},
        )
        summary.lookups += 1
    keep = [lookup["unique_id"] for lookup in lookups]
    # Records keep the option ids they hold; a removed lookup only stops offering them.
    Lookup.objects.exclude(unique_id__in=keep).delete()


def _apply_record_type(doc: dict[str, Any], order: int, summary: LoadSummary) -> None:
    record_type, _ = RecordType.objects.update_or_create(
        unique_id=doc["unique_id"],
        defaults={"name": doc["name"], "order": doc.get("order", order)},
    )
    summary.record_types += 1

    groups: dict[str, FormGroup] = {}
    for group_order, group_doc in enumerate(doc.get("form_groups", [])):
        group, _ = FormGroup.objects.update_or_create(
            record_type=record_type,
            unique_id=group_doc["unique_id"],
            defaults={"name": group_doc["name"], "order": group_doc.get("order", group_order)},
        )
        groups[group.unique_id] = group
    FormGroup.objects.filter(record_type=record_type).exclude(unique_id__in=groups).delete()

    kept_sections: list[int] = []
    kept_fields: list[int] = []
    for section_order, section_doc in enumerate(doc.get("form_sections", [])):
        section = _apply_section(record_type, section_doc, section_order, groups)
        kept_sections.append(section.pk)
        summary.sections += 1
        for field_order, field_doc in enumerate(section_doc.get("fields", [])):
            kept_fields.append(_apply_field(section, section_doc, field_doc, field_order).pk)
            summary.fields += 1

    _archive_missing(record_type, kept_sections, kept_fields, summary)


def _apply_section(
    record_type: RecordType,
    doc: dict[str, Any],
    order: int,
    groups: dict[str, FormGroup],
) -> FormSection:
    section, _ = FormSection.objects.update_or_create(
        unique_id=doc["unique_id"],
        defaults={
            "record_type": record_type,
            "form_group": groups.get(doc.get("form_group") or ""),
            "name": doc["name"],
            "help": doc.get("help") or {},
            "order": doc.get("order", order),
            "is_subform": doc.get("subform", False),
            "visible": doc.get("visible", True),
            "editable": doc.get("editable", True),
            "visible_if": doc.get("visible_if"),
            "archived": False,
        },
    )
    return section


def _apply_field(
    section: FormSection, section_doc: dict[str, Any], doc: dict[str, Any], order: int
) -> Field:
    unique_id = field_unique_id(section.record_type.unique_id, section_doc, doc["name"])
    spec = {key: value for key, value in doc.items() if key not in FIELD_COLUMNS}
    field, _ = Field.objects.update_or_create(
        unique_id=unique_id,
        defaults={
            "section": section,
            "name": doc["name"],
            "type": doc["type"],
            "label": doc["label"],
            "help": doc.get("help") or {},
            "order": doc.get("order", order),
            "spec": spec,
            "visible": doc.get("visible", True),
            "editable": doc.get("editable", True),
            "show_in_list": doc.get("list", False),
            "searchable": doc.get("searchable", False),
            "matchable": doc.get("matchable", False),
            "sensitive": doc.get("sensitive", False),
            "semantic": doc.get("semantic") or "",
            "archived": False,
        },
    )
    return field


def _archive_missing(
    record_type: RecordType,
    kept_sections: list[int],
    kept_fields: list[int],
    summary: LoadSummary,
) -> None:
    sections = FormSection.objects.filter(record_type=record_type, archived=False).exclude(
        pk__in=kept_sections
    )
    summary.archived_sections += list(sections.values_list("unique_id", flat=True))
    sections.update(archived=True)

    fields = Field.objects.filter(section__record_type=record_type, archived=False).exclude(
        pk__in=kept_fields
    )
    summary.archived_fields += list(fields.values_list("unique_id", flat=True))
    fields.update(archived=True)


def dump_configuration() -> dict[str, Any]:
    """Return the configuration in force as a document that `load_configuration` accepts."""
    document: dict[str, Any] = {
        "format": schema.FORMAT,
        "locales": ["en", "fr", "es", "pt", "ar"],
        "record_types": [],
        "lookups": [
            {"unique_id": lookup.unique_id, "name": lookup.name, "options": lookup.options}
            for lookup in Lookup.objects.order_by("unique_id")
        ],
    }
    for record_type in RecordType.objects.prefetch_related("groups", "sections__fields"):
        document["record_types"].append(dump_record_type(record_type))
    retention = dump_retention()
    if retention is not None:
        document["retention"] = retention
    document["roles"] = dump_roles()
    document["user_groups"] = dump_user_groups()
    return document


def dump_record_type(record_type: RecordType) -> dict[str, Any]:
    return {
        "unique_id": record_type.unique_id,
        "name": record_type.name,
        "order": record_type.order,
        "form_groups": [
            {"unique_id": group.unique_id, "name": group.name, "order": group.order}
            for group in record_type.groups.all()
        ],
        "form_sections": [
            _dump_section(section) for section in record_type.sections.all() if not section.archived
        ],
    }


def _dump_section(section: FormSection) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "unique_id": section.unique_id,
        "name": section.name,
        "form_group": section.form_group.unique_id if section.form_group else None,
        "order": section.order,
        "subform": section.is_subform,
        "visible": section.visible,
        "editable": section.editable,
        "visible_if": section.visible_if,
        "fields": [_dump_field(f) for f in section.fields.all() if not f.archived],
    }
    if section.help:
        doc["help"] = section.help
    return doc


def _dump_field(field: Field) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": field.name,
        "type": field.type,
        "label": field.label,
        "order": field.order,
        "visible": field.visible,
        "editable": field.editable,
        "list": field.show_in_list,
        "searchable": field.searchable,
        "matchable": field.matchable,
        "sensitive": field.sensitive,
        **field.spec,
    }
    if field.help:
        doc["help"] = field.help
    if field.semantic:
        doc["semantic"] = field.semantic
    return doc
