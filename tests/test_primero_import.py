"""Primero v2 configuration import: mapping, the report, bad input, dry runs and the command.

Most tests build a small Primero configuration of their own. The tests marked `primero` import
Primero 2.15's open-source child protection configuration from PRIMERO_FILE, and are skipped
when that file is absent.
"""

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tutela.access.models import Agency, Role
from tutela.configuration import primero
from tutela.configuration.forms import FormDefinition, SectionDef, get_form
from tutela.configuration.loading import dump_configuration
from tutela.configuration.models import Field, FormGroup, FormSection, Location, Lookup, RecordType
from tutela.configuration.schema import ConfigurationInvalid
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.usefixtures("db")

PRIMERO_FILE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "primero"
    / "cp-configuration-v2.15.json"
)


def primero_test(function: Any) -> Any:
    """Mark a test that imports the Primero 2.15 file, and skip it when the file is absent."""
    missing = pytest.mark.skipif(
        not PRIMERO_FILE.is_file(),
        reason=f"the Primero 2.15 configuration is not at {PRIMERO_FILE}",
    )
    return pytest.mark.primero(missing(function))


# A small Primero configuration written for these tests.


def text(en: str, **others: str) -> dict[str, str]:
    return {"en": en, **others}


def field(name: str, field_type: str, label: str, **properties: Any) -> dict[str, Any]:
    return {"name": name, "type": field_type, "display_name_i18n": text(label), **properties}


def section(
    unique_id: str, parent_form: str, fields: list[dict[str, Any]], **properties: Any
) -> dict[str, Any]:
    return {
        "unique_id": unique_id,
        "parent_form": parent_form,
        "name_i18n": text(unique_id.replace("_", " ").capitalize()),
        "visible": True,
        "order": 10,
        "order_form_group": 10,
        "fields_attributes": fields,
        **properties,
    }


def small_configuration() -> dict[str, Any]:
    """A case form with a subform, two lookups, an agency and a role."""
    return {
        "data": {
            "id": "00000000-0000-0000-0000-000000000001",
            "name": "Test configuration",
            "version": "1",
            "primero_version": "2.15.0",
            "data": {
                "FormSection": [
                    section(
                        "child_identity",
                        "case",
                        [
                            field("name_first", "text_field", "Given name", required=True),
                            field(
                                "sex",
                                "select_box",
                                "Sex",
                                option_strings_source="lookup lookup-child-sex",
                            ),
                            field("age", "numeric_field", "Age"),
                            field(
                                "date_of_birth",
                                "date_field",
                                "Born on",
                                date_validation="not_future_date",
                            ),
                            field(
                                "location_current",
                                "select_box",
                                "Where the child lives",
                                option_strings_source="Location",
                            ),
                            field(
                                "visits",
                                "subform",
                                "Visits",
                                subform_unique_id="visit_rows",
                                subform_sort_by="visit_time",
                            ),
                        ],
                        form_group_id="identity",
                    ),
                    section(
                        "visit_rows",
                        "case",
                        [
                            field("visit_time", "date_field", "Visit", date_include_time=True),
                            field("visit_notes", "textarea", "What was seen"),
                            field(
                                "visit_outcome",
                                "radio_button",
                                "Outcome",
                                option_strings_text_i18n=[
                                    {"id": "met", "display_text": text("Met", fr="Rencontré")},
                                    {"id": "absent", "display_text": text("Absent")},
                                ],
                            ),
                        ],
                        is_nested=True,
                        visible=False,
                    ),
                ],
                "Lookup": [
                    {
                        "unique_id": "lookup-child-sex",
                        "name_i18n": text("Sex"),
                        "lookup_values_i18n": [
                            {"id": "girl", "display_text": text("Girl", fr="Fille", sw="Msichana")},
                            {"id": "boy", "display_text": text("Boy", fr="Garçon")},
                        ],
                    },
                    {
                        "unique_id": "lookup-form-group-test-case",
                        "name_i18n": text("Case form groups"),
                        "lookup_values_i18n": [
                            {"id": "identity", "display_text": text("Who the child is")}
                        ],
                    },
                ],
                "Agency": [
                    {
                        "unique_id": "agency-test",
                        "name_i18n": text("Test agency"),
                        "agency_code": "TA",
                    }
                ],
                "Role": [{"unique_id": "role-test", "name": "Test role", "permissions": {}}],
                "UserGroup": [],
                "Report": [],
            },
        }
    }


def forms_of(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    forms: list[dict[str, Any]] = configuration["data"]["data"]["FormSection"]
    return forms


def write(tmp_path: Path, configuration: Any, name: str = "configuration.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(configuration), encoding="utf-8")
    return path


def import_small(tmp_path: Path, configuration: dict[str, Any] | None = None) -> Any:
    return primero.import_primero(write(tmp_path, configuration or small_configuration()))


def state_of_database() -> dict[str, Any]:
    """The configuration and agencies in force, to compare before and after a failed import."""
    return {
        "configuration": dump_configuration(),
        "agencies": list(Agency.objects.order_by("unique_id").values()),
        "counts": (
            FormSection.objects.count(),
            Field.objects.count(),
            Lookup.objects.count(),
            Agency.objects.count(),
        ),
    }


def problem_paths(error: pytest.ExceptionInfo[ConfigurationInvalid]) -> list[str]:
    return [problem.path for problem in error.value.problems]


def stored_field(record_type: str, name: str, section: str | None = None) -> Field:
    fields = Field.objects.filter(section__record_type__unique_id=record_type, name=name)
    if section is not None:
        fields = fields.filter(section__unique_id=section)
    return fields.get()


# Mapping


def test_small_configuration_imported(tmp_path: Path) -> None:
    report = import_small(tmp_path)
    # The role lists no form sections, so the report says they are all hidden.
    assert [item.name for item in report.changed] == ["role-test"]
    assert report.not_supported == []
    assert set(FormSection.objects.values_list("unique_id", flat=True)) == {
        "child_identity",
        "visit_rows",
    }


def test_field_types_and_flags_mapped(tmp_path: Path) -> None:
    import_small(tmp_path)
    assert stored_field("case", "name_first").spec["required"] is True
    assert stored_field("case", "age").type == "number"
    date_of_birth = stored_field("case", "date_of_birth")
    assert date_of_birth.type == "date"
    assert date_of_birth.spec["not_future"] is True
    assert stored_field("case", "visit_time").type == "date_time"
    assert stored_field("case", "visit_notes").type == "textarea"


def test_option_sources_mapped(tmp_path: Path) -> None:
    import_small(tmp_path)
    assert stored_field("case", "sex").spec["options"] == "lookup:lookup-child-sex"
    assert stored_field("case", "location_current").spec["options"] == "location"
    outcome = stored_field("case", "visit_outcome")
    assert outcome.type == "radio"
    assert outcome.spec["options"][0] == {"id": "met", "label": {"en": "Met", "fr": "Rencontré"}}


def test_lookup_keeps_every_locale(tmp_path: Path) -> None:
    import_small(tmp_path)
    options = Lookup.objects.get(unique_id="lookup-child-sex").options
    assert options[0]["label"] == {"en": "Girl", "fr": "Fille", "sw": "Msichana"}


def test_lookup_value_shapes_agree() -> None:
    per_option = [
        {"id": "yes", "display_text": {"en": "Yes", "fr": "Oui"}},
        {"id": "no", "display_text": {"en": "No"}},
    ]
    per_locale = {
        "en": [{"id": "yes", "display_text": "Yes"}, {"id": "no", "display_text": "No"}],
        "fr": [{"id": "yes", "display_text": "Oui"}],
    }
    assert primero.merge_options(per_option) == primero.merge_options(per_locale)


def test_subform_and_sort_by(tmp_path: Path) -> None:
    import_small(tmp_path)
    visits = stored_field("case", "visits")
    assert visits.type == "subform"
    assert visits.spec["subform"] == "visit_rows"
    assert visits.spec["sort_by"] == "visit_time"
    rows = FormSection.objects.get(unique_id="visit_rows")
    assert rows.is_subform
    assert rows.visible


def test_core_fields_get_roles(tmp_path: Path) -> None:
    import_small(tmp_path)
    name_first = stored_field("case", "name_first")
    assert name_first.semantic == "name"
    assert name_first.searchable
    assert name_first.sensitive
    assert stored_field("case", "sex").semantic == "sex"
    assert stored_field("case", "age").semantic == "age"
    assert stored_field("case", "date_of_birth").semantic == "date_of_birth"
    assert stored_field("case", "location_current").semantic == "location"
    assert stored_field("case", "visit_notes").semantic == ""


def test_form_group_named_from_lookup(tmp_path: Path) -> None:
    import_small(tmp_path)
    group = FormGroup.objects.get(record_type__unique_id="case", unique_id="identity")
    assert group.name == {"en": "Who the child is"}
    assert FormSection.objects.get(unique_id="child_identity").form_group == group


def test_form_group_without_lookup_humanised(tmp_path: Path) -> None:
    configuration = small_configuration()
    configuration["data"]["data"]["Lookup"].pop()
    report = import_small(tmp_path, configuration)
    group = FormGroup.objects.get(unique_id="identity")
    assert group.name == {"en": "Identity"}
    assert report.item(primero.FORM_GROUP, "case.identity") in report.changed


def test_agency_created(tmp_path: Path) -> None:
    import_small(tmp_path)
    agency = Agency.objects.get(unique_id="agency-test")
    assert agency.name == {"en": "Test agency"}
    assert agency.code == "TA"


def test_role_imported(tmp_path: Path) -> None:
    report = import_small(tmp_path)
    role = Role.objects.get(unique_id="role-test")
    assert role.name == {"en": "Test role"}
    assert role.record_scope == "own"
    assert role.form_section_default == "hidden"
    assert report.counts()[primero.ROLE] == primero.KindCounts(changed=1)


def test_missing_english_label_falls_back(tmp_path: Path) -> None:
    configuration = small_configuration()
    fields = forms_of(configuration)[0]["fields_attributes"]
    fields[2]["display_name_i18n"] = {"fr": "Âge"}
    fields[3]["display_name_i18n"] = {}
    report = import_small(tmp_path, configuration)
    assert stored_field("case", "age").label == {"en": "Âge", "fr": "Âge"}
    assert stored_field("case", "date_of_birth").label == {"en": "Date of birth"}
    assert "'fr'" in report.item(primero.FIELD, "case.child_identity.age").notes[0]
    assert report.item(primero.FIELD, "case.child_identity.date_of_birth") in report.changed


def test_field_name_normalised(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"].append(
        field("Favourite Game", "text_field", "Favourite game")
    )
    report = import_small(tmp_path, configuration)
    assert stored_field("case", "favourite_game").type == "text"
    notes = report.item(primero.FIELD, "case.child_identity.Favourite Game").notes
    assert "renamed to 'favourite_game'" in notes[0]


def test_duplicate_name_keeps_first_in_display_order(tmp_path: Path) -> None:
    configuration = small_configuration()
    later = section(
        "closure",
        "case",
        [field("age", "numeric_field", "Age at closure"), field("line", "separator", "Line")],
        order_form_group=90,
    )
    earlier = section(
        "intake",
        "case",
        [field("line", "separator", "Line"), field("intake_note", "textarea", "Note")],
        order_form_group=1,
    )
    forms_of(configuration).extend([later, earlier])
    report = import_small(tmp_path, configuration)

    # child_identity (group order 10) comes before closure (90), so its age is kept.
    assert stored_field("case", "age").section.unique_id == "child_identity"
    skipped = report.item(primero.FIELD, "case.closure.age")
    assert skipped in report.not_supported
    assert "case.child_identity.age" in skipped.notes[0]
    # Separators hold no value, so the later one is renamed; intake (order 1) keeps the name.
    assert stored_field("case", "line").section.unique_id == "intake"
    assert stored_field("case", "line_2").section.unique_id == "closure"


def test_unknown_field_type_skipped(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"].append(field("aura", "hologram_box", "Aura"))
    report = import_small(tmp_path, configuration)
    skipped = report.item(primero.FIELD, "case.child_identity.aura")
    assert skipped in report.not_supported
    assert "'hologram_box'" in skipped.notes[0]
    assert not Field.objects.filter(name="aura").exists()
    assert Field.objects.filter(section__unique_id="child_identity").count() == 6


def test_date_range_and_custom_not_supported(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"] += [
        field("stay", "date_range", "Stay"),
        field("widget", "custom", "Widget", custom_template="widgets/widget"),
    ]
    report = import_small(tmp_path, configuration)
    assert "two date fields" in report.item(primero.FIELD, "case.child_identity.stay").notes[0]
    assert "template" in report.item(primero.FIELD, "case.child_identity.widget").notes[0]


def test_unknown_option_source_skipped(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"] += [
        field("violation", "select_box", "Violation", option_strings_source="violations"),
        field("office", "select_box", "Office", option_strings_source="ReportingLocation"),
        field("agency", "select_box", "Agency", option_strings_source="Agency"),
        field("worker", "select_box", "Worker", option_strings_source="User"),
        field("empty", "radio_button", "Empty"),
    ]
    report = import_small(tmp_path, configuration)
    assert report.item(primero.FIELD, "case.child_identity.violation") in report.not_supported
    assert stored_field("case", "office").spec["options"] == "location"
    assert report.item(primero.FIELD, "case.child_identity.office") in report.changed
    assert stored_field("case", "agency").spec["options"] == "agency"
    assert stored_field("case", "worker").spec["options"] == "user"
    assert stored_field("case", "empty").spec["options"] == []
    assert "no options" in report.item(primero.FIELD, "case.child_identity.empty").notes[0]


def test_section_lock_not_a_data_lock(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["editable"] = False
    report = import_small(tmp_path, configuration)
    assert FormSection.objects.get(unique_id="child_identity").editable
    notes = report.item(primero.FORM_SECTION, "case.child_identity").notes
    assert "form builder" in notes[0]


def test_disabled_field_not_editable(tmp_path: Path) -> None:
    configuration = small_configuration()
    fields = forms_of(configuration)[0]["fields_attributes"]
    fields[2]["disabled"] = True
    fields[3]["editable"] = False
    import_small(tmp_path, configuration)
    assert not stored_field("case", "age").editable
    assert not stored_field("case", "date_of_birth").editable
    assert stored_field("case", "sex").editable


def test_hidden_required_field_not_required(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"][0]["visible"] = False
    report = import_small(tmp_path, configuration)
    name_first = stored_field("case", "name_first")
    assert not name_first.visible
    assert "required" not in name_first.spec
    notes = report.item(primero.FIELD, "case.child_identity.name_first").notes
    assert "no longer required" in notes[0]


def test_display_conditions_converted(tmp_path: Path) -> None:
    configuration = small_configuration()
    fields = forms_of(configuration)[0]["fields_attributes"]
    fields.append(
        field(
            "pregnancy",
            "tick_box",
            "Pregnant",
            display_conditions_record={"and": [{"eq": {"sex": "girl"}}, {"ge": {"age": 12}}]},
        )
    )
    fields.append(
        field("guess", "text_field", "Guess", display_conditions_record={"eq": {"mood": "x"}})
    )
    report = import_small(tmp_path, configuration)
    assert stored_field("case", "pregnancy").spec["visible_if"] == {
        "and": [
            {"field": "sex", "op": "eq", "value": "girl"},
            {"not": {"field": "age", "op": "lt", "value": 12}},
        ]
    }
    assert "visible_if" not in stored_field("case", "guess").spec
    assert "'mood'" in report.item(primero.FIELD, "case.child_identity.guess").notes[0]


def test_subform_of_other_record_type_copied(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration).append(
        section(
            "household",
            "family",
            [field("household_visits", "subform", "Visits", subform_unique_id="visit_rows")],
        )
    )
    report = import_small(tmp_path, configuration)
    household_visits = stored_field("family", "household_visits")
    copy_id = household_visits.spec["subform"]
    assert copy_id == "visit_rows_family"
    rows = FormSection.objects.get(unique_id=copy_id)
    assert rows.record_type.unique_id == "family"
    assert rows.is_subform
    assert set(rows.fields.values_list("name", flat=True)) == {
        "visit_time",
        "visit_notes",
        "visit_outcome",
    }
    notes = report.item(primero.FORM_SECTION, f"family.{copy_id}").notes
    assert "copy of form section 'visit_rows'" in notes[0]
    # The case keeps its own subform section.
    assert stored_field("case", "visits").spec["subform"] == "visit_rows"


def test_nested_section_moves_to_its_user(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[1]["parent_form"] = "incident"
    report = import_small(tmp_path, configuration)
    rows = FormSection.objects.get(unique_id="visit_rows")
    assert rows.record_type.unique_id == "case"
    assert (
        "moved from record type 'incident'"
        in (report.item(primero.FORM_SECTION, "case.visit_rows").notes[0])
    )


def test_section_used_as_rows_and_form_copied(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[1]["is_nested"] = False
    report = import_small(tmp_path, configuration)
    assert stored_field("case", "visits").spec["subform"] == "visit_rows_rows"
    assert not FormSection.objects.get(unique_id="visit_rows").is_subform
    assert FormSection.objects.get(unique_id="visit_rows_rows").is_subform
    assert report.item(primero.FORM_SECTION, "case.visit_rows_rows") in report.changed


def test_other_record_type_reported(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration).append(
        section("shelter_details", "shelter_record", [field("beds", "numeric_field", "Beds")])
    )
    report = import_small(tmp_path, configuration)
    assert RecordType.objects.get(unique_id="shelter_record").name == {"en": "Shelter record"}
    assert report.item(primero.RECORD_TYPE, "shelter_record") in report.changed


def test_reimport_changes_nothing(tmp_path: Path) -> None:
    import_small(tmp_path)
    before = state_of_database()
    import_small(tmp_path)
    assert state_of_database() == before


def test_render_lists_counts_and_reasons(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"].append(field("aura", "hologram_box", "Aura"))
    text = import_small(tmp_path, configuration).render()
    assert text.startswith("Imported: Primero configuration 'Test configuration'")
    assert re.search(r"form sections\s+2\s+0\s+0", text)
    assert re.search(r"fields\s+9\s+0\s+1", text)
    assert "Not supported, skipped (1):" in text
    assert "field case.child_identity.aura: 'hologram_box'" in text


# Bad input: each one names the problem and leaves the database as it was.


def test_not_json_rejected(tmp_path: Path) -> None:
    import_small(tmp_path)
    before = state_of_database()
    path = tmp_path / "notes.json"
    path.write_text("Forms: basic identity, consent\n", encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as error:
        primero.import_primero(path)
    assert problem_paths(error) == [str(path)]
    assert "is not valid JSON" in error.value.problems[0].message
    assert state_of_database() == before


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationInvalid) as error:
        primero.import_primero(tmp_path / "absent.json")
    assert "was not found" in error.value.problems[0].message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([1, 2], "$"),
        ({"FormSection": []}, "data"),
        ({"data": {"name": "no content"}}, "data.data"),
        ({"data": {"data": {"FormSection": []}}}, "data.data.Lookup"),
        ({"data": {"data": {"FormSection": {}, "Lookup": []}}}, "data.data.FormSection"),
        ({"data": {"data": {"FormSection": [], "Lookup": [], "Role": {}}}}, "data.data.Role"),
    ],
)
def test_wrong_shape_rejected(tmp_path: Path, body: Any, path: str) -> None:
    import_small(tmp_path)
    before = state_of_database()
    with pytest.raises(ConfigurationInvalid) as error:
        primero.import_primero(write(tmp_path, body, "wrong.json"))
    assert problem_paths(error) == [path]
    assert state_of_database() == before


def test_dangling_subform_rejected(tmp_path: Path) -> None:
    import_small(tmp_path)
    before = state_of_database()
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"][5]["subform_unique_id"] = "missing_rows"
    with pytest.raises(ConfigurationInvalid) as error:
        import_small(tmp_path, configuration)
    assert problem_paths(error) == [
        "data.data.FormSection[0].fields_attributes[5].subform_unique_id"
    ]
    assert "'missing_rows'" in error.value.problems[0].message
    assert state_of_database() == before


def test_subform_cycle_rejected(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[1]["fields_attributes"].append(
        field("again", "subform", "Again", subform_unique_id="visit_rows")
    )
    with pytest.raises(ConfigurationInvalid) as error:
        import_small(tmp_path, configuration)
    assert problem_paths(error) == [
        "data.data.FormSection[1].fields_attributes[3].subform_unique_id"
    ]
    assert FormSection.objects.count() == 0


def test_broken_items_all_reported(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms: list[Any] = forms_of(configuration)
    forms.append("not a section")
    forms.append(section("orphan", "", []))
    forms[0]["fields_attributes"].append({"type": "text_field"})
    configuration["data"]["data"]["Lookup"].append({"unique_id": "lookup-bad", "lookup_values": 3})
    with pytest.raises(ConfigurationInvalid) as error:
        import_small(tmp_path, configuration)
    assert set(problem_paths(error)) == {
        "data.data.FormSection[2]",
        "data.data.FormSection[3].parent_form",
        "data.data.FormSection[0].fields_attributes[6].name",
        "data.data.Lookup[2].lookup_values",
    }
    assert FormSection.objects.count() == 0


def test_failed_agency_save_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(agencies: list[dict[str, Any]]) -> None:
        raise RuntimeError("agency table unavailable")

    monkeypatch.setattr(primero, "save_agencies", fail)
    with pytest.raises(RuntimeError):
        import_small(tmp_path)
    assert FormSection.objects.count() == 0
    assert Lookup.objects.count() == 0


# Dry run


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    before = state_of_database()
    report = primero.import_primero(write(tmp_path, small_configuration()), dry_run=True)
    assert report.dry_run
    assert report.render().startswith("Checked (dry run):")
    assert report.counts()[primero.FORM_SECTION] == primero.KindCounts(imported=2)
    assert state_of_database() == before


def test_dry_run_reports_problems(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration)[0]["fields_attributes"][5]["subform_unique_id"] = "missing_rows"
    with pytest.raises(ConfigurationInvalid):
        primero.import_primero(write(tmp_path, configuration), dry_run=True)


# The command


def test_command_dry_run(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command(
        "config",
        "import-primero",
        str(write(tmp_path, small_configuration())),
        "--dry-run",
        stdout=out,
    )
    assert "Checked (dry run)" in out.getvalue()
    assert "Dry run: nothing was changed." in out.getvalue()
    assert FormSection.objects.count() == 0


def test_command_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"data": {"data": {"FormSection": [', encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("config", "import-primero", str(path), stdout=io.StringIO())
    assert "nothing was changed" in str(error.value)
    assert str(path) in str(error.value)


# The Primero 2.15 child protection configuration


def primero_configuration() -> dict[str, Any]:
    configuration: dict[str, Any] = json.loads(PRIMERO_FILE.read_text(encoding="utf-8"))
    return configuration


@pytest.fixture
def primero_file_imported() -> primero.ImportReport:
    return primero.import_primero(PRIMERO_FILE)


@primero_test
def test_primero_file_imports_every_section(primero_file_imported: primero.ImportReport) -> None:
    report = primero_file_imported
    assert FormSection.objects.count() == 64
    assert Lookup.objects.count() == 60
    counts = report.counts()
    assert counts[primero.FORM_SECTION].total == 64
    assert counts[primero.FORM_SECTION].not_supported == 0
    assert counts[primero.LOOKUP].total == 60
    assert counts[primero.LOOKUP].not_supported == 0
    assert counts[primero.FIELD].total == 476
    assert set(RecordType.objects.values_list("unique_id", flat=True)) == {
        "case",
        "incident",
        "tracing_request",
        "family",
        "registry_record",
    }


@primero_test
def test_primero_file_skips_have_reasons(primero_file_imported: primero.ImportReport) -> None:
    report = primero_file_imported
    assert report.not_supported
    for item in report.not_supported:
        assert item.notes
        assert len(item.notes[0]) > 20, item
    for item in report.changed:
        assert item.notes
    counts = report.counts()
    # Every Primero role loses some permissions Tutela does not have, and the report says which.
    assert counts[primero.ROLE] == primero.KindCounts(changed=12)
    assert counts[primero.USER_GROUP] == primero.KindCounts(imported=3)
    assert counts[primero.REPORT] == primero.KindCounts(not_supported=13)


@primero_test
def test_primero_file_core_fields(primero_file_imported: primero.ImportReport) -> None:
    sex = stored_field("case", "sex")
    assert sex.semantic == "sex"
    assert sex.spec["options"] == "lookup:lookup-gender"
    assert stored_field("case", "national_id_no").semantic == "id_number"
    assert stored_field("case", "location_current").spec["options"] == "location"
    assert stored_field("case", "status").section.unique_id == "basic_identity"
    assert Agency.objects.get(unique_id="UNICEF").name == {"en": "UNICEF"}
    separation = Lookup.objects.get(unique_id="lookup-separation-cause")
    ids = [option["id"] for option in separation.options]
    assert len(ids) == len(set(ids))


def usable(field_def: Field, section_def: SectionDef) -> bool:
    """Whether a caseworker could fill the field in: shown, editable and holding a value."""
    skipped_types = {"separator", "calculated", "photo", "audio", "document", "signature"}
    return (
        field_def.visible
        and field_def.editable
        and section_def.section.editable
        and field_def.type not in skipped_types
    )


def sample_option(form: FormDefinition, field_def: Field) -> str | None:
    source = field_def.spec.get("options")
    fixed = {"location": "UT", "agency": "UNICEF", "user": "amina"}
    if isinstance(source, str) and source in fixed:
        return fixed[source]
    options = [o for o in form.options(field_def) or [] if not o.get("disabled")]
    return options[0]["id"] if options else None


def sample_value(form: FormDefinition, field_def: Field) -> Any:
    """A valid value for any field type, chosen from the imported configuration."""
    if field_def.type in ("text", "textarea"):
        return f"Sample {field_def.name}"
    if field_def.type == "number":
        return 7
    if field_def.type == "date":
        return "2020-03-14"
    if field_def.type == "date_time":
        return "2020-03-14T09:30:00Z"
    if field_def.type == "tick_box":
        return True
    if field_def.type in ("select", "radio"):
        option = sample_option(form, field_def)
        if option is None:
            return None
        return [option] if field_def.spec.get("multi") else option
    if field_def.type == "tally":
        option = sample_option(form, field_def)
        return {option: 2} if option else None
    if field_def.type == "subform":
        rows = form.subform_of(field_def)
        row = {
            f.name: sample_value(form, f)
            for f in rows.fields
            if usable(f, rows) and f.type != "subform"
        }
        row = {name: value for name, value in row.items() if value is not None}
        return [{"unique_id": f"row-{field_def.name}", **row}] if row else None
    return None


def sample_case(form: FormDefinition) -> tuple[dict[str, Any], set[str]]:
    """Values for every field a caseworker can fill in, and the sections they fall in."""
    values: dict[str, Any] = {}
    sections: set[str] = set()
    for section_def in form.sections:
        if not section_def.section.visible or section_def.section.visible_if:
            continue
        for field_def in section_def.fields:
            if not usable(field_def, section_def):
                continue
            value = sample_value(form, field_def)
            if value is not None:
                values[field_def.name] = value
                sections.add(section_def.unique_id)
    return values, sections


@primero_test
def test_primero_case_round_trip(
    primero_file_imported: primero.ImportReport, caseworker: Any
) -> None:
    Location.objects.create(unique_id="UT", admin_level=0, name={"en": "Utopia"})
    form = get_form("case")
    values, sections = sample_case(form)
    assert len(sections) >= 10, sorted(sections)
    subforms = [name for name in values if form.fields[name].type == "subform"]
    assert len(subforms) >= 3, subforms
    assert values["sex"] in {"male", "female"}

    record = actions.create_record("case", copy.deepcopy(values), caseworker)

    stored = Record.objects.get(pk=record.pk)
    assert stored.data == values
    assert stored.display_name.startswith("Sample name_first")
    assert stored.match_sex == values["sex"]
    assert stored.match_location == "UT"


@primero_test
def test_primero_truncated_file_rejected(tmp_path: Path) -> None:
    import_small(tmp_path)
    before = state_of_database()
    content = PRIMERO_FILE.read_text(encoding="utf-8")
    path = tmp_path / "truncated.json"
    path.write_text(content[: len(content) // 2], encoding="utf-8")
    with pytest.raises(ConfigurationInvalid) as error:
        primero.import_primero(path)
    assert problem_paths(error) == [str(path)]
    assert "truncated" in error.value.problems[0].message
    assert state_of_database() == before


@primero_test
def test_primero_dangling_subform_rejected(tmp_path: Path) -> None:
    configuration = primero_configuration()
    sections = forms_of(configuration)
    index = next(i for i, s in enumerate(sections) if s["unique_id"] == "services")
    sections[index]["fields_attributes"][0]["subform_unique_id"] = "services_gone"
    with pytest.raises(ConfigurationInvalid) as error:
        primero.import_primero(write(tmp_path, configuration))
    assert problem_paths(error) == [
        f"data.data.FormSection[{index}].fields_attributes[0].subform_unique_id"
    ]
    assert FormSection.objects.count() == 0
    assert Lookup.objects.count() == 0


@primero_test
def test_primero_dry_run_changes_nothing() -> None:
    report = primero.import_primero(PRIMERO_FILE, dry_run=True)
    assert report.counts()[primero.FORM_SECTION].total == 64
    assert FormSection.objects.count() == 0
    assert Lookup.objects.count() == 0
    assert not Agency.objects.filter(unique_id="UNICEF").exists()


@primero_test
def test_primero_command_summary() -> None:
    out = io.StringIO()
    call_command("config", "import-primero", str(PRIMERO_FILE), stdout=out)
    summary = out.getvalue()
    assert summary.startswith("Imported: Primero configuration")
    row = re.search(r"form sections\s+(\d+)\s+(\d+)\s+(\d+)", summary)
    assert row is not None
    assert sum(int(number) for number in row.groups()) == 64
    assert re.search(r"lookups\s+\d+\s+\d+\s+0\n", summary)
    assert "roles: not supported" not in summary
    assert Role.objects.filter(unique_id__startswith="role-").count() == 12


@primero_test
def test_primero_roles_keep_scope_and_sections() -> None:
    primero.import_primero(PRIMERO_FILE)
    manager = Role.objects.get(unique_id="role-cp-manager")
    assert manager.record_scope == "group"
    assert "approve" in manager.permissions["case"]
    provider = Role.objects.get(unique_id="role-cp-service-provider")
    assert provider.form_section_default == "hidden"
    assert provider.form_sections.get("services") == "write"
    administrator = Role.objects.get(unique_id="role-cp-administrator")
    assert administrator.permissions["configuration"] == ["manage"]
    assert administrator.mfa_required
    granted = set(administrator.grantable_roles.values_list("unique_id", flat=True))
    assert "role-cp-case-worker" in granted
    assert FormSection.objects.count() == 64


def test_duplicate_lookup_reported_apart(tmp_path: Path) -> None:
    configuration = small_configuration()
    lookups = configuration["data"]["data"]["Lookup"]
    lookups.append({**copy.deepcopy(lookups[0]), "name_i18n": text("Sex again")})
    report = import_small(tmp_path, configuration)
    assert Lookup.objects.get(unique_id="lookup-child-sex").name == {"en": "Sex"}
    assert report.item(primero.LOOKUP, "lookup-child-sex") in report.imported
    duplicate = report.item(primero.LOOKUP, "lookup-child-sex (data.data.Lookup[2])")
    assert duplicate in report.not_supported


def test_skipped_subform_field_makes_no_copy(tmp_path: Path) -> None:
    configuration = small_configuration()
    forms_of(configuration).append(
        section(
            "more",
            "case",
            [field("visits", "subform", "Visits again", subform_unique_id="visit_rows")],
            order_form_group=50,
        )
    )
    report = import_small(tmp_path, configuration)
    assert report.item(primero.FIELD, "case.more.visits") in report.not_supported
    assert FormSection.objects.filter(is_subform=True).count() == 1
