"""Loading configuration into the database: all or nothing, round trips, locations, the CLI."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.sample_configuration import sample
from tutela.configuration.loading import dump_configuration, load_configuration
from tutela.configuration.locations import parse_locations, save_locations
from tutela.configuration.models import Field, FormSection, Location, Lookup, RecordType
from tutela.configuration.schema import ConfigurationInvalid, check_document

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "src" / "tutela" / "configuration" / "default"
LOCALES = ("en", "fr", "es", "pt", "ar")


def counts() -> tuple[int, int, int, int]:
    return (
        RecordType.objects.count(),
        FormSection.objects.count(),
        Field.objects.count(),
        Lookup.objects.count(),
    )


def test_invalid_document_changes_nothing(db: None) -> None:
    load_configuration(sample())
    before = counts()
    document = sample()
    document["record_types"][0]["form_sections"][0]["fields"][2]["options"] = "lookup:gone"
    document["lookups"].append({"unique_id": "lookup-new", "name": {"en": "New"}, "options": []})
    with pytest.raises(ConfigurationInvalid) as error:
        load_configuration(document)
    assert error.value.problems[0].path == "record_types[0].form_sections[0].fields[2].options"
    assert counts() == before
    assert not Lookup.objects.filter(unique_id="lookup-new").exists()


def test_dump_round_trip(db: None) -> None:
    load_configuration(sample())
    dumped = dump_configuration()
    assert check_document(dumped) == []
    load_configuration(dumped)
    assert dump_configuration() == dumped


def test_unique_ids_stable_across_loads(db: None) -> None:
    load_configuration(sample())
    ids = set(Field.objects.values_list("unique_id", "pk"))
    load_configuration(sample())
    assert set(Field.objects.values_list("unique_id", "pk")) == ids


def test_subform_field_unique_id(db: None) -> None:
    load_configuration(sample())
    assert Field.objects.filter(unique_id="case.service_row.service_type").exists()
    assert Field.objects.filter(unique_id="case.name_first").exists()


def test_default_configuration_valid() -> None:
    document = json.loads((DEFAULT_DIR / "configuration.json").read_text(encoding="utf-8"))
    assert check_document(document) == []


def test_default_configuration_translated() -> None:
    document = json.loads((DEFAULT_DIR / "configuration.json").read_text(encoding="utf-8"))
    missing = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("label", "name", "help", "tick_box_label") and isinstance(value, dict):
                    missing.extend(f"{path}.{key}.{loc}" for loc in LOCALES if not value.get(loc))
                else:
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(document, "$")
    assert missing == []


def test_default_configuration_covers_field_types() -> None:
    document = json.loads((DEFAULT_DIR / "configuration.json").read_text(encoding="utf-8"))
    types = {
        field["type"]
        for record_type in document["record_types"]
        for section in record_type["form_sections"]
        for field in section["fields"]
    }
    assert types >= {
        "text", "textarea", "select", "radio", "tick_box", "number", "date", "date_time",
        "subform", "separator", "tally", "calculated", "photo", "audio", "document",
        "signature", "location",
    }  # fmt: skip
    record_types = {record_type["unique_id"] for record_type in document["record_types"]}
    assert record_types == {"case", "incident", "tracing_request", "family"}


def test_load_default_command(db: None) -> None:
    output = StringIO()
    call_command("config", "load-default", stdout=output)
    assert "Loaded 4 record types" in output.getvalue()
    assert Location.objects.filter(admin_level=0).count() == 1
    assert Location.objects.filter(admin_level=3).exists()


def test_command_reports_bad_json(db: None, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "tutela-configuration/1", "record_types": [')
    with pytest.raises(CommandError) as error:
        call_command("config", "load", str(broken))
    assert "is not valid JSON" in str(error.value)
    assert "truncated" in str(error.value)
    assert RecordType.objects.count() == 0


def test_command_reports_non_utf8(db: None, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"name": "Hélène"}'.encode("latin-1"))
    with pytest.raises(CommandError) as error:
        call_command("config", "load", str(latin1))
    assert "UTF-8" in str(error.value)


def test_command_lists_every_problem(db: None, tmp_path: Path) -> None:
    document = sample()
    document["record_types"][0]["form_sections"][0]["fields"][0]["type"] = "colour"
    document["record_types"][0]["form_sections"][0]["fields"][2]["options"] = "lookup:gone"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError) as error:
        call_command("config", "load", str(path))
    message = str(error.value)
    assert "2 problem(s)" in message
    assert "fields[0].type" in message
    assert "fields[2].options" in message


def test_command_dump(db: None, tmp_path: Path) -> None:
    load_configuration(sample())
    out = tmp_path / "dump.json"
    call_command("config", "dump", "--output", str(out), stderr=StringIO())
    assert json.loads(out.read_text())["record_types"][0]["unique_id"] == "case"


LOCATIONS = """Country,Code,Region,Code,Region (fr),District,Code
#adm0+name,#adm0+code,#adm1+name,#adm1+code,#adm1+name+fr,#adm2+name,#adm2+code
Utopia,UT,North,UT01,Nord,Hill,UT0101
Utopia,UT,North,UT01,Nord,Lake,UT0102
Utopia,UT,South,UT02,Sud,Coast,UT0201
"""


def test_locations_tree_from_hxl(db: None) -> None:
    assert save_locations(parse_locations(LOCATIONS)) == 6
    lake = Location.objects.get(unique_id="UT0102")
    assert lake.admin_level == 2
    assert lake.parent is not None
    assert lake.parent.unique_id == "UT01"
    assert lake.parent.name == {"en": "North", "fr": "Nord"}


def test_locations_update_in_place(db: None) -> None:
    save_locations(parse_locations(LOCATIONS))
    renamed = LOCATIONS.replace("Lake,UT0102", "Lakeside,UT0102")
    save_locations(parse_locations(renamed))
    assert Location.objects.count() == 6
    assert Location.objects.get(unique_id="UT0102").name["en"] == "Lakeside"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("just one row\n", "hashtags"),
        ("a,b\n#country,#region\nx,y\n", "#admN+code"),
        ("a,b\n#adm1+code,#adm9+name\nx,y\n", "#adm9+name"),
        (LOCATIONS + "Utopia,UT,South,UT02,Sud,Hill,UT0101\n", "two parents"),
        ("c\n#adm0+code\nUT\n", "has no name"),
    ],
)
def test_locations_bad_csv(db: None, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationInvalid) as error:
        parse_locations(text)
    assert expected in str(error.value)


def test_health_ok(client: object, db: None) -> None:
    from django.test import Client

    assert isinstance(client, Client)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}
