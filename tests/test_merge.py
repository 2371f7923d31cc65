"""Merging a save made against an older version with the saves made since (edit conflicts)."""

from typing import Any

import pytest

from tutela.access.models import User
from tutela.configuration.forms import FormDefinition, get_form
from tutela.records import actions
from tutela.records.merge import merge, saves_since, values_at_version

pytestmark = pytest.mark.usefixtures("sample_config")


@pytest.fixture
def form() -> FormDefinition:
    return get_form("case")


def test_merge_applies_a_change_only_i_made(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": "2"}, {"phone": "1"})
    assert outcome.changes == {"phone": "2"}


def test_merge_keeps_a_change_only_they_made(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": "1"}, {"phone": "3"})
    assert outcome.kept_theirs == ["phone"]


def test_merge_sends_nothing_for_their_change(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": "1"}, {"phone": "3"})
    assert outcome.changes == {}


def test_merge_reports_a_field_both_changed_differently(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": "2"}, {"phone": "3"})
    assert [(c.name, c.base, c.mine, c.theirs) for c in outcome.conflicts] == [
        ("phone", "1", "2", "3")
    ]


def test_merge_agrees_when_both_made_the_same_change(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": "2"}, {"phone": "2"})
    assert (outcome.agreed, outcome.conflicts) == (["phone"], [])


def test_merge_conflicts_when_both_fill_a_field(
    form: FormDefinition,
) -> None:
    outcome = merge(form, {}, {"age": 9}, {"age": 10})
    assert [c.name for c in outcome.conflicts] == ["age"]


def test_merge_treats_removing_a_value_as_a_change(form: FormDefinition) -> None:
    outcome = merge(form, {"phone": "1"}, {"phone": None}, {"phone": "1"})
    assert outcome.changes == {"phone": None}


def test_merge_ignores_fields_outside_the_form(form: FormDefinition) -> None:
    outcome = merge(form, {"age": 1}, {"phone": "2"}, {"age": 5})
    assert (outcome.kept_theirs, outcome.changes) == ([], {"phone": "2"})


def test_merge_compares_moments_in_utc(form: FormDefinition) -> None:
    stored = "2024-05-01T12:30:00Z"
    typed = "2024-05-01T14:30:00+02:00"
    outcome = merge(form, {"reviewed_at": stored}, {"reviewed_at": typed}, {"reviewed_at": stored})
    assert outcome.changes == {}


def test_merge_compares_multi_select_options_in_any_order(form: FormDefinition) -> None:
    base = {"concerns": ["labour", "neglect"]}
    outcome = merge(form, base, {"concerns": ["neglect", "labour"]}, base)
    assert outcome.changes == {}


def rows(*services: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"unique_id": f"r{i}", **s} for i, s in enumerate(services)]


def test_merge_compares_subforms_as_whole_values(form: FormDefinition) -> None:
    base = rows({"service_type": "health"})
    mine = rows({"service_type": "health", "sessions_planned": 2})
    theirs = rows({"service_type": "education"})
    outcome = merge(form, {"services": base}, {"services": mine}, {"services": theirs})
    assert [c.name for c in outcome.conflicts] == ["services"]


def test_merge_ignores_calculated_values_in_subform_rows(form: FormDefinition) -> None:
    stored = rows({"service_type": "health", "sessions_planned": 2, "sessions_total": 2})
    posted = rows({"service_type": "health", "sessions_planned": 2})
    outcome = merge(form, {"services": stored}, {"services": posted}, {"services": stored})
    assert outcome.changes == {}


def test_merge_applies_rows_only_i_changed(form: FormDefinition) -> None:
    base = rows({"service_type": "health"})
    mine = rows({"service_type": "health"}, {"service_type": "education"})
    outcome = merge(form, {"services": base}, {"services": mine}, {"services": base})
    assert outcome.changes == {"services": mine}


def test_merge_compares_attachment_lists(form: FormDefinition) -> None:
    outcome = merge(form, {"photo": ["a"]}, {"photo": ["a", "b"]}, {"photo": ["c"]})
    assert [c.name for c in outcome.conflicts] == ["photo"]


# Rebuilding the values a user read from the history


def test_values_at_version_undo_later_saves(caseworker: User, colleague: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal", "phone": "1"}, caseworker)
    actions.update_record(record.pk, {"phone": "2", "age": 7}, colleague, base_version=1)
    record = actions.update_record(record.pk, {"phone": "3"}, colleague, base_version=2)
    assert values_at_version(record, 1) == {"name_first": "Amal", "phone": "1"}


def test_values_at_version_skip_status_changes(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    record = actions.set_status(record.pk, actions.Status.CLOSED, caseworker, base_version=1)
    assert values_at_version(record, 1) == {"name_first": "Amal"}


def test_saves_since_name_who_changed_what(caseworker: User, colleague: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    record = actions.update_record(record.pk, {"phone": "2"}, colleague, base_version=1)
    assert [(s.username, s.fields) for s in saves_since(record, 1)] == [("bruno", ["phone"])]
