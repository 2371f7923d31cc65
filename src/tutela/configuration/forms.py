"""Compiled, cached form definitions: what validation, search and the pages read.

Building a definition costs a few queries; each process keeps the definitions until the
configuration generation in the database moves on.
"""

import threading
from dataclasses import dataclass, field
from typing import Any

from tutela.configuration.models import (
    ConfigurationState,
    Field,
    FieldType,
    FormGroup,
    FormSection,
    Lookup,
    RecordType,
    translate,
)


@dataclass
class SectionDef:
    section: FormSection
    fields: list[Field]
    by_name: dict[str, Field]

    @property
    def unique_id(self) -> str:
        return self.section.unique_id


@dataclass
class FormDefinition:
    """The active configuration of one record type."""

    record_type: RecordType
    groups: list[FormGroup]
    # Ordinary (non-subform) sections in display order.
    sections: list[SectionDef]
    # Subform sections by unique_id.
    subforms: dict[str, SectionDef]
    # Top-level fields by name, with the section each belongs to.
    fields: dict[str, Field]
    section_of: dict[str, SectionDef]
    archived_fields: dict[str, Field]
    lookups: dict[str, Lookup]
    semantic: dict[str, list[str]] = field(default_factory=dict)

    def section(self, unique_id: str) -> SectionDef | None:
        for section in self.sections:
            if section.unique_id == unique_id:
                return section
        return None

    def subform_of(self, field: Field) -> SectionDef:
        return self.subforms[field.spec["subform"]]

    def options(self, field: Field) -> list[dict[str, Any]] | None:
        """Return the field's fixed options, or None when they come from locations, agencies
        or users."""
        source = field.spec.get("options")
        if isinstance(source, list):
            return source
        if isinstance(source, str) and source.startswith("lookup:"):
            lookup = self.lookups.get(source.removeprefix("lookup:"))
            return lookup.options if lookup else []
        return None

    def option_label(self, field: Field, value: str, locale: str | None = None) -> str:
        for option in self.options(field) or []:
            if option["id"] == value:
                return translate(option.get("label"), locale) or value
        return value

    def list_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.show_in_list]

    def searchable_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.searchable]


_cache: dict[str, FormDefinition] = {}
_cache_generation: list[int] = [-1]
_lock = threading.Lock()


def clear_form_cache() -> None:
    with _lock:
        _cache.clear()
        _cache_generation[0] = -1


def current_generation() -> int:
    state = ConfigurationState.objects.filter(pk=1).values_list("generation", flat=True).first()
    return state or 0


def get_form(record_type: str) -> FormDefinition:
    """Return the compiled definition of `record_type`; raise LookupError if it is unknown."""
    generation = current_generation()
    with _lock:
        if _cache_generation[0] != generation:
            _cache.clear()
            _cache_generation[0] = generation
        cached = _cache.get(record_type)
    if cached is not None:
        return cached
    definition = _build(record_type)
    with _lock:
        _cache[record_type] = definition
    return definition


def _build(record_type_id: str) -> FormDefinition:
    try:
        record_type = RecordType.objects.get(unique_id=record_type_id)
    except RecordType.DoesNotExist:
        raise LookupError(f"Unknown record type {record_type_id!r}.") from None

    groups = list(record_type.groups.all())
    sections = list(
        FormSection.objects.filter(record_type=record_type, archived=False).select_related(
            "form_group"
        )
    )
    all_fields = list(
        Field.objects.filter(section__record_type=record_type).select_related("section")
    )
    lookups = {lookup.unique_id: lookup for lookup in Lookup.objects.all()}

    definition = FormDefinition(
        record_type=record_type,
        groups=groups,
        sections=[],
        subforms={},
        fields={},
        section_of={},
        archived_fields={},
        lookups=lookups,
    )
    by_section: dict[int, list[Field]] = {}
    for f in all_fields:
        if f.archived or f.section.archived:
            if not f.section.is_subform:
                definition.archived_fields.setdefault(f.name, f)
            continue
        by_section.setdefault(f.section_id, []).append(f)

    for section in sections:
        fields = sorted(by_section.get(section.pk, []), key=lambda f: (f.order, f.pk))
        section_def = SectionDef(section, fields, {f.name: f for f in fields})
        if section.is_subform:
            definition.subforms[section.unique_id] = section_def
            continue
        definition.sections.append(section_def)
        for f in fields:
            definition.fields[f.name] = f
            definition.section_of[f.name] = section_def
            if f.semantic:
                definition.semantic.setdefault(f.semantic, []).append(f.name)

    # A field that came back in a newer configuration is no longer archived.
    for name in definition.fields:
        definition.archived_fields.pop(name, None)
    definition.sections.sort(
        key=lambda s: (s.section.form_group.order if s.section.form_group else 0, s.section.order)
    )
    return definition


def value_field_types() -> frozenset[str]:
    """Field types that hold a value (all but separators)."""
    return frozenset(t.value for t in FieldType) - {FieldType.SEPARATOR.value}
