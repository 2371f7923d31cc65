"""The administrators' configuration screens through Django's test client, on real PostgreSQL."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import signed_in_client
from tutela.access.models import User
from tutela.audit.models import AuditEntry
from tutela.configuration.loading import dump_configuration, load_configuration, read_document
from tutela.configuration.models import Field, FormGroup, FormSection, Lookup
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.usefixtures("sample_config")

CASE = "/configuration/types/case"
PROTECTION = f"{CASE}/sections/protection"
IDENTITY = f"{CASE}/sections/basic_identity"


@pytest.fixture
def admin_client(administrator: User) -> Client:
    """A client signed in as Ada, whose administrator role manages the configuration."""
    client: Client = signed_in_client(administrator)
    return client


@pytest.fixture
def locked(settings: Any) -> None:
    settings.TUTELA_CONFIGURATION_LOCKED = True


def text_of(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def changes() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="configuration.change").order_by("id"))


def field(name: str) -> Field:
    return Field.objects.get(unique_id=f"case.{name}")


def field_names(section: str) -> list[str]:
    fields = Field.objects.filter(section__unique_id=section, archived=False)
    return list(fields.order_by("order", "id").values_list("name", flat=True))


# Access


@pytest.mark.parametrize(
    "url",
    [
        "/configuration/",
        f"{CASE}/",
        f"{PROTECTION}/",
        f"{PROTECTION}/fields/risk_level/",
        "/configuration/lookups/lookup-sex/",
        "/configuration/locations/",
    ],
)
def test_caseworker_gets_403(caseworker: User, url: str) -> None:
    client = Client()
    client.force_login(caseworker)
    response = client.get(url)
    assert response.status_code == 403
    assert "Only administrators" in text_of(response)


def test_caseworker_cannot_post_a_change(caseworker: User) -> None:
    client = Client()
    client.force_login(caseworker)
    response = client.post(f"{PROTECTION}/fields/risk_level/move", {"direction": "up"})
    assert response.status_code == 403
    assert field_names("protection")[:2] == ["concerns", "risk_level"]


def test_anonymous_visitor_is_sent_to_sign_in() -> None:
    response = Client().get("/configuration/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_navigation_links_configuration_for_staff_only(
    admin_client: Client, caseworker: User
) -> None:
    assert 'href="/configuration/"' in admin_client.get("/cases/").content.decode()
    client = Client()
    client.force_login(caseworker)
    assert 'href="/configuration/"' not in client.get("/cases/").content.decode()


# Viewing


def test_overview_lists_record_types_lookups_and_levels(admin_client: Client) -> None:
    text = text_of(admin_client.get("/configuration/"))
    assert 'href="/configuration/types/case/"' in text
    assert 'href="/configuration/lookups/lookup-risk/"' in text
    assert "Level 2: 3 locations" in text


def test_overview_query_count_is_bounded(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    # Warm the per-process caches (the site row is read once per process).
    admin_client.get("/configuration/")
    # One more than before roles: the user's role.
    with django_assert_max_num_queries(7):
        assert admin_client.get("/configuration/").status_code == 200


def test_record_type_page_orders_sections(
    admin_client: Client,
) -> None:
    text = text_of(admin_client.get(f"{CASE}/"))
    assert text.index("Basic identity") < text.index("Protection concerns")
    assert text.index("Protection concerns") < text.index(">Services<")
    assert '<code dir="ltr">urgent_action</code>' in text


def test_record_type_page_query_count_is_bounded(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    admin_client.get(f"{CASE}/")  # warm the per-process caches, the site row among them
    with django_assert_max_num_queries(10):
        assert admin_client.get(f"{CASE}/").status_code == 200


def test_field_page_shows_grammar(admin_client: Client) -> None:
    text = text_of(admin_client.get(f"{PROTECTION}/fields/urgent_action/"))
    assert "How to write a condition" in text
    assert '<code dir="ltr">risk_level</code>' in text


def test_locations_browse_by_parent_and_level(admin_client: Client) -> None:
    assert "North" in text_of(admin_client.get("/configuration/locations/?parent=UT"))
    level = text_of(admin_client.get("/configuration/locations/?level=2"))
    assert "Hill district" in level
    assert "Coast district" in level


# Editing labels, flags, validation and skip logic


def test_staff_edits_a_label_and_its_translations(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/risk_level/",
        {
            "part": "labels",
            "labels-label__en": "Level of risk",
            "labels-label__fr": "Niveau de risque",
            "labels-label__es": "Nivel de riesgo",
            "labels-label__pt": "Nível de risco",
            "labels-label__ar": "مستوى الخطر",
        },
    )
    assert response.status_code == 302
    assert field("risk_level").label == {
        "en": "Level of risk",
        "fr": "Niveau de risque",
        "es": "Nivel de riesgo",
        "pt": "Nível de risco",
        "ar": "مستوى الخطر",
    }


def test_label_edit_writes_one_audit_entry(admin_client: Client) -> None:
    admin_client.post(
        f"{PROTECTION}/fields/risk_level/", {"part": "labels", "labels-label__en": "Risk"}
    )
    entries = changes()
    assert len(entries) == 1
    assert entries[0].object_type == "field"
    assert entries[0].object_id == "case.risk_level"
    assert entries[0].details == {"change": "label"}
    assert entries[0].actor == "ada"


def test_other_locales_already_present_get_an_input(admin_client: Client) -> None:
    admin_client.post(
        f"{PROTECTION}/fields/risk_level/",
        {"part": "labels", "labels-label__en": "Risk", "labels-label__sw": "Hatari"},
    )
    risk = field("risk_level")
    risk.label = {**risk.label, "sw": "Hatari"}
    risk.save()
    text = text_of(admin_client.get(f"{PROTECTION}/fields/risk_level/"))
    assert 'name="labels-label__sw"' in text


def test_empty_english_label_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/risk_level/", {"part": "labels", "labels-label__fr": "Risque"}
    )
    assert response.status_code == 200
    assert "record_types[0].form_sections[1].fields[1].label.en" in text_of(response)
    assert field("risk_level").label["en"] == "Risk level"


def test_staff_sets_flags(admin_client: Client) -> None:
    admin_client.post(
        f"{PROTECTION}/fields/risk_level/",
        {"part": "flags", "flags-visible": "on", "flags-list": "on", "flags-sensitive": "on"},
    )
    risk = field("risk_level")
    assert (risk.visible, risk.editable, risk.show_in_list, risk.sensitive) == (
        True,
        False,
        True,
        True,
    )


def test_staff_sets_validation(admin_client: Client) -> None:
    response = admin_client.post(
        f"{IDENTITY}/fields/phone/",
        {
            "part": "validation",
            "validation-required": "on",
            "validation-pattern": r"\+?[0-9 ]{6,20}",
            "validation-max_length": "20",
        },
    )
    assert response.status_code == 302
    assert field("phone").spec == {
        "required": True,
        "pattern": r"\+?[0-9 ]{6,20}",
        "max_length": 20,
    }


def test_bad_pattern_shows_its_path_and_changes_nothing(admin_client: Client) -> None:
    response = admin_client.post(
        f"{IDENTITY}/fields/phone/", {"part": "validation", "validation-pattern": "[0-9"}
    )
    text = text_of(response)
    assert response.status_code == 200
    assert "record_types[0].form_sections[0].fields[10].pattern" in text
    assert "is not a valid regular expression" in text
    assert "pattern" not in field("phone").spec
    assert changes() == []


def test_staff_sets_skip_logic(admin_client: Client) -> None:
    condition = '{"field": "risk_level", "op": "in", "value": ["high", "low"]}'
    response = admin_client.post(
        f"{PROTECTION}/fields/consent/",
        {"part": "visible_if", "visible_if-visible_if": condition},
    )
    assert response.status_code == 302
    assert field("consent").spec["visible_if"] == {
        "field": "risk_level",
        "op": "in",
        "value": ["high", "low"],
    }
    assert changes()[0].details == {"change": "visible_if"}


def test_skip_logic_unknown_field_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/urgent_action/",
        {
            "part": "visible_if",
            "visible_if-visible_if": '{"field": "no_such_field", "op": "eq", "value": 1}',
        },
    )
    text = text_of(response)
    assert "record_types[0].form_sections[1].fields[2].visible_if.field" in text
    assert "names the field &#x27;no_such_field&#x27;, which is not in scope here." in text
    assert field("urgent_action").spec["visible_if"]["field"] == "risk_level"
    assert changes() == []


def test_skip_logic_invalid_json_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/urgent_action/",
        {"part": "visible_if", "visible_if-visible_if": '{"field": '},
    )
    assert "This is not valid JSON" in text_of(response)
    assert changes() == []


def test_section_skip_logic_can_be_cleared(admin_client: Client) -> None:
    admin_client.post(
        f"{CASE}/sections/services/", {"part": "visible_if", "visible_if-visible_if": ""}
    )
    assert FormSection.objects.get(unique_id="services").visible_if is None


# Order


def test_staff_moves_a_field_down(admin_client: Client) -> None:
    response = admin_client.post(f"{PROTECTION}/fields/concerns/move", {"direction": "down"})
    assert response.status_code == 302
    assert field_names("protection")[:3] == ["risk_level", "concerns", "urgent_action"]
    assert changes()[0].details == {"change": "order"}


def test_moving_the_first_field_up_changes_no_order(admin_client: Client) -> None:
    admin_client.post(f"{PROTECTION}/fields/concerns/move", {"direction": "up"})
    assert field_names("protection")[:2] == ["concerns", "risk_level"]


def test_staff_moves_a_section_up_within_its_group(admin_client: Client) -> None:
    admin_client.post(f"{PROTECTION}/move", {"direction": "up"})
    protection = FormSection.objects.get(unique_id="protection")
    identity = FormSection.objects.get(unique_id="basic_identity")
    assert protection.order < identity.order


def test_staff_moves_a_form_group(admin_client: Client) -> None:
    admin_client.post(f"{CASE}/groups/support/move", {"direction": "up"})
    groups = FormGroup.objects.filter(record_type__unique_id="case").order_by("order")
    assert [g.unique_id for g in groups] == ["support", "identity"]


def test_staff_moves_a_lookup_option(admin_client: Client) -> None:
    admin_client.post("/configuration/lookups/lookup-risk/options/high/move", {"direction": "up"})
    options = Lookup.objects.get(unique_id="lookup-risk").options
    assert [o["id"] for o in options] == ["high", "low"]


# Adding


def test_staff_adds_a_text_field(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/new",
        {"name": "school_name", "type": "text", "label__en": "School", "label__fr": "École"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{PROTECTION}/fields/school_name/"
    added = field("school_name")
    assert added.label == {"en": "School", "fr": "École"}
    assert field_names("protection")[-1] == "school_name"
    assert changes()[0].details == {"change": "add"}


def test_staff_adds_a_select_field_on_a_lookup(admin_client: Client) -> None:
    admin_client.post(
        f"{PROTECTION}/fields/new",
        {
            "name": "second_risk",
            "type": "select",
            "label__en": "Second risk",
            "options_source": "lookup:lookup-risk",
            "multi": "on",
        },
    )
    assert field("second_risk").spec == {"options": "lookup:lookup-risk", "multi": True}


def test_staff_adds_a_radio_field_with_inline_options(admin_client: Client) -> None:
    admin_client.post(
        f"{PROTECTION}/fields/new",
        {
            "name": "in_school",
            "type": "radio",
            "label__en": "In school",
            "options_source": "inline",
            "inline_options": '[{"id": "yes", "label": {"en": "Yes"}}]',
        },
    )
    assert field("in_school").spec["options"] == [{"id": "yes", "label": {"en": "Yes"}}]


def test_staff_adds_a_calculated_field(admin_client: Client) -> None:
    admin_client.post(
        f"{CASE}/sections/service_row/fields/new",
        {
            "name": "sessions_average",
            "type": "calculated",
            "label__en": "Average sessions",
            "calculation": '{"op": "average", "fields": ["sessions_planned", "sessions_done"]}',
        },
    )
    added = Field.objects.get(unique_id="case.service_row.sessions_average")
    assert added.spec["calculation"]["op"] == "average"


def test_duplicate_field_name_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/new", {"name": "sex", "type": "text", "label__en": "Sex again"}
    )
    text = text_of(response)
    assert response.status_code == 200
    assert "record_types[0].form_sections[1].fields" in text
    assert "field name &#x27;sex&#x27; is also used in" in text
    assert "sex" not in field_names("protection")
    assert changes() == []


def test_select_without_options_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/new", {"name": "colour", "type": "select", "label__en": "Colour"}
    )
    assert "fields[7].options" in text_of(response)
    assert not Field.objects.filter(name="colour").exists()


def test_staff_adds_a_section_and_a_form_group(admin_client: Client) -> None:
    admin_client.post(f"{CASE}/groups/new", {"unique_id": "closure", "name__en": "Closure"})
    response = admin_client.post(
        f"{CASE}/sections/new",
        {"unique_id": "closure_details", "name__en": "Closure details", "form_group": "closure"},
    )
    assert response["Location"] == f"{CASE}/sections/closure_details/"
    section = FormSection.objects.get(unique_id="closure_details")
    assert section.form_group is not None
    assert section.form_group.unique_id == "closure"
    assert [e.object_type for e in changes()] == ["form_group", "section"]


def test_staff_adds_a_lookup_and_an_option(admin_client: Client) -> None:
    admin_client.post(
        "/configuration/lookups/new", {"unique_id": "lookup-school", "name__en": "School"}
    )
    response = admin_client.post(
        "/configuration/lookups/lookup-school/options/new",
        {"unique_id": "primary", "label__en": "Primary", "label__ar": "ابتدائي"},
    )
    assert response.status_code == 302
    options = Lookup.objects.get(unique_id="lookup-school").options
    assert options == [{"id": "primary", "label": {"en": "Primary", "ar": "ابتدائي"}}]
    assert changes()[-1].object_id == "lookup-school:primary"


def test_staff_adds_an_option_to_an_existing_lookup(admin_client: Client) -> None:
    admin_client.post(
        "/configuration/lookups/lookup-risk/options/new",
        {"unique_id": "medium", "label__en": "Medium"},
    )
    options = Lookup.objects.get(unique_id="lookup-risk").options
    assert [o["id"] for o in options] == ["low", "high", "medium"]


def test_duplicate_option_id_rejected(admin_client: Client) -> None:
    response = admin_client.post(
        "/configuration/lookups/lookup-risk/options/new",
        {"unique_id": "high", "label__en": "High again"},
    )
    assert "lookups[1].options[2].id" in text_of(response)
    assert len(Lookup.objects.get(unique_id="lookup-risk").options) == 2


def test_option_id_with_a_slash_is_editable(admin_client: Client) -> None:
    admin_client.post(
        "/configuration/lookups/lookup-risk/options/new",
        {"unique_id": "n/a", "label__en": "Not known"},
    )
    lookup_page = text_of(admin_client.get("/configuration/lookups/lookup-risk/"))
    assert 'href="/configuration/lookups/lookup-risk/options/n/a/"' in lookup_page
    response = admin_client.post(
        "/configuration/lookups/lookup-risk/options/n/a/", {"label__en": "Unknown"}
    )
    assert response.status_code == 302
    assert Lookup.objects.get(unique_id="lookup-risk").options[2]["label"] == {"en": "Unknown"}


def test_staff_edits_and_disables_an_option(admin_client: Client) -> None:
    admin_client.post(
        "/configuration/lookups/lookup-risk/options/low/",
        {"label__en": "Low", "label__pt": "Baixo", "disabled": "on"},
    )
    low = Lookup.objects.get(unique_id="lookup-risk").options[0]
    assert low == {"id": "low", "label": {"en": "Low", "pt": "Baixo"}, "disabled": True}


# Removing


def test_remove_field_keeps_record_values(admin_client: Client, caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal", "phone": "555 0100"}, caseworker)
    confirm = text_of(admin_client.get(f"{IDENTITY}/fields/phone/remove"))
    assert "records keep the values they hold" in confirm
    assert "1 record holds a value for this field." in confirm

    response = admin_client.post(f"{IDENTITY}/fields/phone/remove")
    assert response.status_code == 302
    assert field("phone").archived
    assert Record.objects.get(pk=record.pk).data["phone"] == "555 0100"
    assert changes()[0].details == {"change": "remove", "archived_fields": ["case.phone"]}


def test_remove_section_archives_fields(admin_client: Client) -> None:
    admin_client.post("/configuration/types/incident/sections/incident_details/remove")
    assert FormSection.objects.get(unique_id="incident_details").archived
    assert Field.objects.get(unique_id="incident.description").archived


def test_remove_section_named_by_skip_logic(admin_client: Client) -> None:
    response = admin_client.post(f"{PROTECTION}/remove")
    assert "record_types[0].form_sections[2].visible_if.not.field" in text_of(response)
    assert not FormSection.objects.get(unique_id="protection").archived


def test_remove_subform_target_rejected(admin_client: Client) -> None:
    response = admin_client.post(f"{CASE}/sections/service_row/remove")
    assert "record_types[0].form_sections[2].fields[0].subform" in text_of(response)
    assert not FormSection.objects.get(unique_id="service_row").archived


# Locked mode


def test_locked_site_rejects_staff_change(admin_client: Client, locked: None) -> None:
    response = admin_client.post(
        f"{PROTECTION}/fields/risk_level/", {"part": "labels", "labels-label__en": "Risk"}
    )
    assert response.status_code == 403
    assert "Configuration editing is locked" in text_of(response)
    assert field("risk_level").label["en"] == "Risk level"
    assert changes() == []


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (f"{PROTECTION}/fields/concerns/move", {"direction": "down"}),
        (f"{PROTECTION}/fields/new", {"name": "x", "type": "text", "label__en": "X"}),
        (f"{PROTECTION}/remove", {}),
        ("/configuration/lookups/new", {"unique_id": "l", "name__en": "L"}),
    ],
)
def test_locked_site_rejects_every_change(
    admin_client: Client, locked: None, url: str, data: dict[str, str]
) -> None:
    assert admin_client.post(url, data).status_code == 403
    assert changes() == []


@pytest.mark.parametrize(
    "url",
    [
        "/configuration/",
        f"{CASE}/",
        f"{PROTECTION}/",
        f"{PROTECTION}/fields/risk_level/",
        f"{PROTECTION}/fields/new",
        "/configuration/lookups/lookup-risk/",
    ],
)
def test_locked_site_shows_no_edit_controls(admin_client: Client, locked: None, url: str) -> None:
    response = admin_client.get(url)
    text = text_of(response)
    assert response.status_code == 200
    assert "Configuration editing is locked on this site" in text
    assert 'name="part"' not in text
    assert "hx-post" not in text
    assert not re.search(r'href="/configuration/[^"]*/(new|remove)"', text)


# The default configuration


def test_default_configuration_takes_a_change(admin_client: Client) -> None:
    """A change reloads the whole configuration, so the shipped one must load back unchanged."""
    default = Path(__file__).resolve().parent.parent / "src/tutela/configuration/default"
    load_configuration(read_document(default / "configuration.json"))
    before = dump_configuration()
    response = admin_client.post(
        "/configuration/lookups/new", {"unique_id": "lookup-new", "name__en": "New"}
    )
    assert response.status_code == 302
    after = dump_configuration()
    after["lookups"] = [x for x in after["lookups"] if x["unique_id"] != "lookup-new"]
    assert after == before


PAGES = [
    "/configuration/",
    f"{CASE}/",
    f"{CASE}/groups/new",
    f"{CASE}/groups/identity/",
    f"{CASE}/sections/new",
    f"{PROTECTION}/",
    f"{PROTECTION}/remove",
    f"{PROTECTION}/fields/new",
    f"{PROTECTION}/fields/visits/",
    f"{IDENTITY}/fields/date_of_birth/",
    f"{CASE}/sections/services/fields/services/",
    f"{CASE}/sections/service_row/fields/sessions_total/",
    f"{IDENTITY}/fields/phone/remove",
    "/configuration/lookups/new",
    "/configuration/lookups/lookup-risk/",
    "/configuration/lookups/lookup-risk/options/new",
    "/configuration/lookups/lookup-risk/options/high/",
    "/configuration/locations/",
    "/configuration/locations/?level=2",
]


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders(admin_client: Client, url: str, language: str) -> None:
    response = admin_client.get(url, headers={"accept-language": language})
    assert response.status_code == 200
    assert f'lang="{language}"' in response.content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_when_locked(admin_client: Client, locked: None, url: str) -> None:
    assert admin_client.get(url).status_code == 200


def test_arabic_page_reads_right_to_left(admin_client: Client) -> None:
    response = admin_client.get(f"{PROTECTION}/", headers={"accept-language": "ar"})
    text = text_of(response)
    assert 'dir="rtl"' in text
    assert "منطق التخطي" in text
