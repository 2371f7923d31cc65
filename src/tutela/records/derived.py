"""Columns derived from a record's form values on every save.

They serve lists, full-text search and duplicate detection: the display name, the name keys,
the values compared for duplicates and the full-text search vector.
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db.models import Value
from django.db.models.expressions import CombinedExpression

from tutela.configuration.forms import FormDefinition
from tutela.configuration.models import Field, translate
from tutela.encryption import search as sealed_search
from tutela.encryption.fields import POLICY_ATTRIBUTE
from tutela.encryption.policy import policy_of_form
from tutela.lib import names
from tutela.records.models import Record

# Arabic letters that are often written interchangeably, unified for search.
ARABIC_SEARCH_FOLDS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي"})


def fold_for_search(text: str) -> str:
    """Lower-case and strip accents so that search is accent-insensitive without `unaccent`."""
    return names.fold(text).translate(ARABIC_SEARCH_FOLDS)


def name_values(record: Record, form: FormDefinition) -> list[str]:
    return [
        str(record.data[name])
        for name in form.semantic.get("name", [])
        if isinstance(record.data.get(name), str)
    ]


def first_value(record: Record, form: FormDefinition, semantic: str) -> Any:
    # A sensitive field's value must not reach the plain match_* columns.
    sensitive = policy_of_form(form).fields
    for name in form.semantic.get(semantic, []):
        if name in sensitive:
            continue
        value = record.data.get(name)
        if value not in (None, "", []):
            return value
    return None


def birth_year(record: Record, form: FormDefinition) -> int | None:
    born = first_value(record, form, "date_of_birth")
    if isinstance(born, str):
        try:
            return dt.date.fromisoformat(born).year
        except ValueError:
            pass
    age = first_value(record, form, "age")
    if isinstance(age, int | float) and not isinstance(age, bool):
        # An age is measured at registration; the birth year follows from that date.
        reference = record.registration_date or record.created_at.date()
        return reference.year - int(age)
    return None


def refresh(record: Record, form: FormDefinition) -> None:
    """Recompute the derived columns (all but the search vector) from `record.data`."""
    rules = policy_of_form(form)
    setattr(record, POLICY_ATTRIBUTE, rules)
    record.display_name = " ".join(name_values(record, form))[:300]
    record.name_keys = names.name_keys(name_values(record, form))
    if rules.names:
        record.name_keys = sealed_search.hashed_name_keys(record.name_keys)
    record.search_tokens = sealed_search.tokens_of_texts(
        fold_for_search(text)
        for name in sealed_search.token_fields(form)
        for text in _texts(form, form.fields[name], record.data.get(name))
    )

    registration = record.data.get("registration_date")
    if isinstance(registration, str) and "registration_date" not in rules.fields:
        try:
            record.registration_date = dt.date.fromisoformat(registration)
        except ValueError:
            record.registration_date = None

    sex = first_value(record, form, "sex")
    record.match_sex = sex if isinstance(sex, str) else ""
    record.match_birth_year = birth_year(record, form)
    location = first_value(record, form, "location")
    record.match_location = location if isinstance(location, str) else ""


def searchable_text(record: Record, form: FormDefinition) -> str:
    parts = [record.short_id]
    sensitive = policy_of_form(form).fields
    for field in form.searchable_fields():
        if field.name in sensitive:
            # Found through keyed hashes in search_tokens instead (see refresh).
            continue
        parts.extend(_texts(form, field, record.data.get(field.name)))
    return fold_for_search(" ".join(parts))


def _texts(form: FormDefinition, field: Field, value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if field.type in ("select", "radio"):
        ids = value if isinstance(value, list) else [value]
        options = {option["id"]: option for option in form.options(field) or []}
        texts = []
        for option_id in ids:
            option = options.get(option_id)
            labels = option.get("label", {}).values() if option else []
            texts.extend([str(option_id), *labels])
        return texts
    if isinstance(value, str | int | float):
        text = str(value)
        return [text, names.transliterate(text)] if names.ARABIC_LETTERS.search(text) else [text]
    return []


def search_vector_expression(text: str) -> CombinedExpression:
    """Plain word matching plus the stemming rules of the site's search language."""
    language = settings.TUTELA_SEARCH_LANGUAGE
    plain = SearchVector(Value(text), config="simple", weight="A")
    stemmed = SearchVector(Value(text), config=language, weight="B")
    return plain + stemmed


def store_search_vector(record: Record, form: FormDefinition) -> None:
    text = searchable_text(record, form)
    Record.objects.filter(pk=record.pk).update(search_vector=search_vector_expression(text))


def label_for(form: FormDefinition, field: Field, value: Any) -> str:
    """Return a value as a caseworker reads it: option labels, not ids."""
    if field.type in ("select", "radio"):
        ids = value if isinstance(value, list) else [value]
        return ", ".join(form.option_label(field, str(option_id)) for option_id in ids)
    if field.type == "tick_box":
        return translate(field.spec.get("tick_box_label")) or ("✓" if value else "✗")
    return str(value)
