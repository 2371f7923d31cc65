"""Records: validation against the configuration, versions and conflicts, history, archiving."""

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.sample_configuration import sample
from tutela.configuration.loading import load_configuration
from tutela.records import actions
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.validation import RecordInvalid

pytestmark = pytest.mark.usefixtures("sample_config")


def new_case(user: Any, **values: Any) -> Record:
    return actions.create_record("case", {"name_first": "Amal", **values}, user)


def problems_of(error: pytest.ExceptionInfo[RecordInvalid]) -> dict[str, list[str]]:
    return error.value.by_path()


def test_create_stores_values_and_history(caseworker: Any) -> None:
    record = new_case(caseworker, name_last="Haddad", sex="female", age=9)
    stored = Record.objects.get(pk=record.pk)
    assert stored.data == {"name_first": "Amal", "name_last": "Haddad", "sex": "female", "age": 9}
    assert stored.version == 1
    assert stored.owner == caseworker
    history = RecordHistory.objects.get(record=record)
    assert history.changes["sex"] == {"old": None, "new": "female"}
    assert history.user == caseworker


def test_short_id_shape(caseworker: Any) -> None:
    short_ids = {new_case(caseworker).short_id for _ in range(20)}
    assert len(short_ids) == 20
    for short_id in short_ids:
        assert len(short_id) == 8
        assert short_id[3] == "-"
        assert not set(short_id) & set("01OIL")


def test_unknown_field_rejected(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, favourite_colour="blue")
    assert "favourite_colour" in problems_of(error)
    assert Record.objects.count() == 0


def test_value_not_in_lookup_named(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, sex="unknown-sex")
    message = problems_of(error)["sex"][0]
    assert "'unknown-sex'" in message
    assert "female" in message


def test_wrong_types_rejected(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, age="nine", consent="maybe", date_of_birth="12/05/2015")
    assert set(problems_of(error)) == {"age", "consent", "date_of_birth"}


def test_future_date_rejected(caseworker: Any) -> None:
    tomorrow = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, date_of_birth=tomorrow)
    assert "future" in problems_of(error)["date_of_birth"][0]


def test_sensitive_value_not_repeated(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, name_first=12345)
    assert "12345" not in str(error.value)
    assert "12345" not in problems_of(error)["name_first"][0]


def test_required_field_on_create(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        actions.create_record("case", {"name_last": "Haddad"}, caseworker)
    assert problems_of(error)["name_first"] == ["This field is required."]


def test_number_bounds_and_integer(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, age=30)
    assert "at most 25" in problems_of(error)["age"][0]
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, age=3.5)
    assert "whole number" in problems_of(error)["age"][0]


def test_pattern_checked(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, national_id="12")
    assert "national_id" in problems_of(error)
    assert new_case(caseworker, national_id="UT123456").data["national_id"] == "UT123456"


def test_location_must_exist(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, location_current="XX99")
    assert "location_current" in problems_of(error)
    assert new_case(caseworker, location_current="UT0101").match_location == "UT0101"


def test_skip_logic_hidden_field_rejected(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, risk_level="low", urgent_action="called police")
    assert "hidden" in problems_of(error)["urgent_action"][0]


def test_skip_logic_required_when_shown(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, risk_level="high")
    assert problems_of(error)["urgent_action"] == ["This field is required."]
    record = new_case(caseworker, risk_level="high", urgent_action="Moved to safe house")
    assert record.data["urgent_action"] == "Moved to safe house"


def test_section_condition_hides_section(caseworker: Any) -> None:
    row = {"unique_id": "r1", "service_type": "health"}
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, consent=False, services=[row])
    assert "services" in problems_of(error)


def test_subform_rows_and_calculation(caseworker: Any) -> None:
    rows = [
        {"unique_id": "r1", "service_type": "health", "sessions_planned": 4, "sessions_done": 2},
        {"unique_id": "r2", "service_type": "education"},
    ]
    record = new_case(caseworker, services=rows)
    assert record.data["services"][0]["sessions_total"] == 6
    assert record.data["services"][1] == {
        "unique_id": "r2",
        "service_type": "education",
        "sessions_total": None,
    }


def test_subform_row_without_key(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, services=[{"service_type": "health"}])
    assert "services[0].unique_id" in problems_of(error)


def test_subform_row_validated(caseworker: Any) -> None:
    rows = [{"unique_id": "r1", "service_type": "plumbing", "colour": "red"}]
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, services=rows)
    assert set(problems_of(error)) == {"services[0].service_type", "services[0].colour"}


def test_calculated_age(caseworker: Any) -> None:
    born = timezone.localdate().replace(year=timezone.localdate().year - 7) - dt.timedelta(days=1)
    record = new_case(caseworker, date_of_birth=born.isoformat())
    assert record.data["age_calculated"] == 7


def test_calculated_field_cannot_be_set(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, age_calculated=3)
    assert "calculated" in problems_of(error)["age_calculated"][0]


def test_date_time_normalised_to_utc(caseworker: Any) -> None:
    record = new_case(caseworker, reviewed_at="2024-05-01T14:30+02:00")
    assert record.data["reviewed_at"] == "2024-05-01T12:30:00Z"
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, reviewed_at="2024-05-01T14:30")
    assert "offset" in problems_of(error)["reviewed_at"][0]


def test_multi_select_and_tally(caseworker: Any) -> None:
    record = new_case(caseworker, concerns=["neglect", "labour"], visits={"home": 2})
    assert record.data["concerns"] == ["neglect", "labour"]
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, visits={"home": -1, "moon": 1})
    assert set(problems_of(error)) == {"visits.home", "visits.moon"}


def test_update_writes_history_with_old_and_new(caseworker: Any, colleague: Any) -> None:
    record = new_case(caseworker, sex="female")
    updated = actions.update_record(
        record.pk, {"sex": "male", "age": 10}, colleague, base_version=1
    )
    assert updated.version == 2
    row = RecordHistory.objects.get(record=record, version=2)
    assert row.user == colleague
    assert row.changes == {
        "sex": {"old": "female", "new": "male"},
        "age": {"old": None, "new": 10},
    }


def test_update_without_change_keeps_version(caseworker: Any) -> None:
    record = new_case(caseworker, sex="female")
    same = actions.update_record(record.pk, {"sex": "female"}, caseworker, base_version=1)
    assert same.version == 1
    assert RecordHistory.objects.filter(record=record).count() == 1


def test_clearing_a_value_removes_it(caseworker: Any) -> None:
    record = new_case(caseworker, sex="female")
    updated = actions.update_record(record.pk, {"sex": None}, caseworker, base_version=1)
    assert "sex" not in updated.data
    assert RecordHistory.objects.get(record=record, version=2).changes == {
        "sex": {"old": "female", "new": None}
    }


def test_stale_update_is_conflict_naming_fields(caseworker: Any, colleague: Any) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"sex": "male"}, colleague, base_version=1)
    actions.update_record(record.pk, {"age": 11}, colleague, base_version=2)
    with pytest.raises(actions.RecordConflict) as conflict:
        actions.update_record(record.pk, {"name_last": "Saad"}, caseworker, base_version=1)
    assert conflict.value.fields == ["sex", "age"]
    assert conflict.value.current_version == 3
    stored = Record.objects.get(pk=record.pk)
    assert "name_last" not in stored.data
    assert stored.version == 3


def test_invalid_update_changes_nothing(caseworker: Any) -> None:
    record = new_case(caseworker, sex="female")
    with pytest.raises(RecordInvalid):
        actions.update_record(record.pk, {"sex": "x", "age": 5}, caseworker, base_version=1)
    stored = Record.objects.get(pk=record.pk)
    assert stored.data == {"name_first": "Amal", "sex": "female"}
    assert stored.version == 1


def test_close_and_disable_in_history(caseworker: Any) -> None:
    record = new_case(caseworker)
    actions.set_status(record.pk, Status.CLOSED, caseworker, base_version=1)
    disabled = actions.set_disabled(record.pk, True, caseworker, base_version=2)
    assert disabled.status == Status.CLOSED
    assert disabled.disabled
    actions_seen = list(
        RecordHistory.objects.filter(record=record).values_list("action", flat=True)
    )
    assert actions_seen == ["create", "close", "disable"]
    with pytest.raises(actions.RecordDisabled):
        actions.update_record(record.pk, {"age": 3}, caseworker, base_version=3)


def test_removed_field_archived_and_readable(caseworker: Any) -> None:
    record = new_case(caseworker, legacy_note="kept for the file")
    document = sample()
    protection = document["record_types"][0]["form_sections"][1]
    protection["fields"] = [f for f in protection["fields"] if f["name"] != "legacy_note"]
    summary = load_configuration(document)
    assert summary.archived_fields == ["case.legacy_note"]

    stored = Record.objects.get(pk=record.pk)
    assert stored.data["legacy_note"] == "kept for the file"
    assert actions.archived_values(stored) == {"legacy_note": "kept for the file"}
    with pytest.raises(RecordInvalid) as error:
        actions.update_record(record.pk, {"legacy_note": "new"}, caseworker, base_version=1)
    assert "removed from the configuration" in problems_of(error)["legacy_note"][0]

    # Saving other fields keeps the archived value.
    actions.update_record(record.pk, {"age": 4}, caseworker, base_version=1)
    assert Record.objects.get(pk=record.pk).data["legacy_note"] == "kept for the file"


def test_restored_field_leaves_archive(caseworker: Any) -> None:
    document = sample()
    protection = document["record_types"][0]["form_sections"][1]
    kept = protection["fields"]
    protection["fields"] = [f for f in kept if f["name"] != "legacy_note"]
    load_configuration(document)
    load_configuration(sample())
    record = new_case(caseworker, legacy_note="back again")
    assert record.data["legacy_note"] == "back again"


def test_update_query_count(caseworker: Any) -> None:
    record = new_case(caseworker)
    with CaptureQueriesContext(connection) as queries:
        actions.update_record(record.pk, {"age": 4}, caseworker, base_version=1)
    # Savepoint, lock, generation check, update, search vector, history, three for the audit
    # entry (chain lock, last hash, insert), release.
    assert len(queries) <= 11, [q["sql"][:80] for q in queries]


def test_required_checked_per_touched_section(caseworker: Any) -> None:
    # The incident's only section has a required date; a case created without touching the
    # protection section is not held back by that section's requirements.
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    assert record.version == 1
    with pytest.raises(RecordInvalid) as error:
        actions.create_record("incident", {"description": "x"}, caseworker)
    assert problems_of(error) == {"incident_date": ["This field is required."]}


def test_required_sections_named_by_form(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        actions.create_record("incident", {}, caseworker, required_sections=["incident_details"])
    assert problems_of(error) == {"incident_date": ["This field is required."]}


def test_required_bad_date_gets_one_message(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        actions.create_record("incident", {"incident_date": "2026-13-45"}, caseworker)
    assert problems_of(error) == {
        "incident_date": ["'2026-13-45' is not a date; write it as YYYY-MM-DD."]
    }


def test_nul_character_rejected(caseworker: Any) -> None:
    rows = [{"unique_id": "r\x001", "service_type": "health"}]
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, name_last="Ha\x00ddad", services=rows)
    assert set(problems_of(error)) == {"name_last", "services[0].unique_id"}


@pytest.mark.parametrize("text", ["Lone \ud800 surrogate", "Mia\u202eluL", "Iso\u2067late"])
def test_unstorable_characters_rejected(caseworker: Any, text: str) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, name_last=text)
    assert set(problems_of(error)) == {"name_last"}


def test_multi_select_order_is_no_change(caseworker: Any) -> None:
    record = new_case(caseworker, concerns=["labour", "neglect"])
    assert record.data["concerns"] == ["neglect", "labour"]
    same = actions.update_record(
        record.pk, {"concerns": ["labour", "neglect"]}, caseworker, base_version=1
    )
    assert same.version == 1


def test_date_before_1900_rejected(caseworker: Any) -> None:
    with pytest.raises(RecordInvalid) as error:
        new_case(caseworker, date_of_birth="1800-05-01")
    assert problems_of(error)["date_of_birth"] == ["must be on or after 1900-01-01."]
