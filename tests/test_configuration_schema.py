"""Checking configuration documents: every problem reported at once, each with its path."""

import pytest

from tests.sample_configuration import sample
from tutela.configuration.schema import check_document


def paths(document: object) -> list[str]:
    return [problem.path for problem in check_document(document)]


def test_sample_is_valid() -> None:
    assert check_document(sample()) == []


def test_not_an_object() -> None:
    assert paths([1, 2]) == ["$"]


def test_wrong_format_named() -> None:
    document = sample()
    document["format"] = "other/2"
    assert paths(document) == ["format"]


def test_dangling_lookup_reported_with_path() -> None:
    document = sample()
    document["record_types"][0]["form_sections"][0]["fields"][2]["options"] = "lookup:missing"
    problems = check_document(document)
    assert [p.path for p in problems] == ["record_types[0].form_sections[0].fields[2].options"]
    assert "'missing'" in problems[0].message


def test_all_problems_reported_together() -> None:
    document = sample()
    fields = document["record_types"][0]["form_sections"][0]["fields"]
    fields[0]["type"] = "colour"
    fields[1]["label"] = {"fr": "Nom"}
    fields[2]["options"] = "lookup:missing"
    document["record_types"][0]["form_sections"][0]["form_group"] = "nowhere"
    found = paths(document)
    assert "record_types[0].form_sections[0].fields[0].type" in found
    assert "record_types[0].form_sections[0].fields[1].label.en" in found
    assert "record_types[0].form_sections[0].fields[2].options" in found
    assert "record_types[0].form_sections[0].form_group" in found


def test_subform_cycle_detected() -> None:
    document = sample()
    row = document["record_types"][0]["form_sections"][3]
    row["fields"].append(
        {"name": "nested", "type": "subform", "label": {"en": "Nested"}, "subform": "service_row"}
    )
    problems = check_document(document)
    assert any("cycle" in p.message for p in problems)


def test_subform_target_must_be_subform_section() -> None:
    document = sample()
    document["record_types"][0]["form_sections"][2]["fields"][0]["subform"] = "protection"
    assert paths(document) == ["record_types[0].form_sections[2].fields[0].subform"]


def test_condition_unknown_field() -> None:
    document = sample()
    field = document["record_types"][0]["form_sections"][1]["fields"][2]
    field["visible_if"] = {"and": [{"field": "nope", "op": "eq", "value": 1}]}
    assert paths(document) == ["record_types[0].form_sections[1].fields[2].visible_if.and[0].field"]


def test_calculation_needs_number_fields() -> None:
    document = sample()
    row = document["record_types"][0]["form_sections"][3]
    row["fields"][3]["calculation"]["fields"] = ["service_type"]
    assert paths(document) == ["record_types[0].form_sections[3].fields[3].calculation.fields"]


def test_duplicate_field_names_rejected() -> None:
    document = sample()
    document["record_types"][0]["form_sections"][1]["fields"][0]["name"] = "sex"
    assert paths(document) == ["record_types[0].form_sections[1].fields"]


@pytest.mark.parametrize("pattern", ["[unclosed", 5])
def test_invalid_pattern(pattern: object) -> None:
    document = sample()
    document["record_types"][0]["form_sections"][0]["fields"][6]["pattern"] = pattern
    assert paths(document) == ["record_types[0].form_sections[0].fields[6].pattern"]


def test_unknown_property_named() -> None:
    document = sample()
    document["record_types"][0]["form_sections"][0]["fields"][0]["requried"] = True
    assert paths(document) == ["record_types[0].form_sections[0].fields[0].requried"]
