"""Every record type's pages, home, list filters, saved searches, disabling, edit conflicts."""

import re
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import signed_in_client
from tests.sample_configuration import label, sample
from tutela.access.models import Agency, User
from tutela.audit.models import AuditEntry
from tutela.configuration.loading import load_configuration
from tutela.records import actions
from tutela.records.models import Record, RecordHistory
from tutela.web.models import RecentView, SavedSearch

pytestmark = pytest.mark.usefixtures("family_config")

SOME_RECORD = uuid.UUID("5f0d7a36-6a41-4d0f-9a52-3b8f4b1e9c21")
TODAY_INCIDENT = {"incident_date": "2024-01-05"}


@pytest.fixture
def family_config(sample_config: None) -> None:
    """The sample configuration with a family type: a name, a radio and a tick box in lists."""
    document = sample()
    document["record_types"].append(
        {
            "unique_id": "family",
            "name": label("Family"),
            "form_sections": [
                {
                    "unique_id": "household",
                    "name": label("Household"),
                    "fields": [
                        {
                            "name": "family_name",
                            "type": "text",
                            "label": label("Family name"),
                            "semantic": "name",
                            "list": True,
                            "required": True,
                        },
                        {
                            "name": "displaced",
                            "type": "tick_box",
                            "label": label("Displaced"),
                            "list": True,
                        },
                        {
                            "name": "housing",
                            "type": "radio",
                            "label": label("Housing"),
                            "list": True,
                            "options": [
                                {"id": "camp", "label": label("Camp")},
                                {"id": "host", "label": label("Host family")},
                            ],
                        },
                    ],
                }
            ],
        }
    )
    load_configuration(document)
    cache.clear()


@pytest.fixture
def outsider(db: None, roles: dict[str, Any]) -> User:
    """Omar, a caseworker of another agency."""
    other = Agency.objects.create(unique_id="agency-two", name={"en": "Agency Two"})
    return User.objects.create_user(
        "omar", password="correct horse battery", agency=other, role=roles["caseworker"]
    )


@pytest.fixture
def supervisor(db: None, roles: dict[str, Any]) -> User:
    """Sara, an administrator: she sees and may disable every record."""
    return User.objects.create_user(
        "sara", password="correct horse battery", role=roles["administrator"]
    )


def signed_in(user: User) -> Client:
    client: Client = signed_in_client(user)
    return client


def text_of(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def new_case(user: User, **values: Any) -> Record:
    return actions.create_record("case", {"name_first": "Amal", **values}, user)


def new_incident(user: User, **values: Any) -> Record:
    return actions.create_record("incident", {**TODAY_INCIDENT, **values}, user)


def new_family(user: User, **values: Any) -> Record:
    return actions.create_record("family", {"family_name": "Haddad", **values}, user)


# Access


@pytest.mark.parametrize(
    "url",
    [
        "/records/incident/",
        "/records/incident/new",
        f"/records/incident/{SOME_RECORD}/",
        f"/records/incident/{SOME_RECORD}/history",
        f"/records/incident/{SOME_RECORD}/sections/incident_details/edit",
        f"/attachments/{SOME_RECORD}",
        f"/attachments/{SOME_RECORD}/thumbnail",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in(url: str) -> None:
    response = Client().get(url)
    assert response["Location"].startswith("/sign-in/?next=")


@pytest.mark.parametrize(
    "url",
    [
        f"/records/incident/{SOME_RECORD}/disabled",
        "/records/incident/searches/",
        "/records/incident/searches/1/open",
        "/records/incident/searches/1/delete",
    ],
)
def test_anonymous_post_is_sent_to_sign_in(url: str) -> None:
    response = Client().post(url)
    assert response["Location"].startswith("/sign-in/?next=")


def test_unknown_record_type_is_not_found(caseworker: User) -> None:
    assert signed_in(caseworker).get("/records/spaceship/").status_code == 404


@pytest.mark.parametrize("page", ["", "history", "sections/incident_details/edit"])
def test_incident_of_another_agency_is_not_found(
    caseworker: User, outsider: User, page: str
) -> None:
    record = new_incident(caseworker)
    response = signed_in(outsider).get(f"/records/incident/{record.pk}/{page}")
    assert response.status_code == 404


def test_disabling_out_of_scope_is_not_found(caseworker: User, outsider: User) -> None:
    record = new_incident(caseworker)
    response = signed_in(outsider).post(
        f"/records/incident/{record.pk}/disabled", {"version": "1", "disabled": "1"}
    )
    assert response.status_code == 404


def test_case_under_the_incident_address_is_not_found(caseworker: User) -> None:
    record = new_case(caseworker)
    assert signed_in(caseworker).get(f"/records/incident/{record.pk}/").status_code == 404


def test_case_is_served_under_records_too(caseworker: User) -> None:
    record = new_case(caseworker)
    assert signed_in(caseworker).get(f"/records/case/{record.pk}/").status_code == 200


# Every record type


def test_menu_lists_the_configured_types(caseworker: User) -> None:
    text = text_of(signed_in(caseworker).get("/"))
    assert re.search(r'href="/cases/"[^>]*>Cases<.*href="/records/incident/"[^>]*>Incidents<', text)


def test_incident_list_shows_incidents_only(caseworker: User) -> None:
    incident = new_incident(caseworker)
    case = new_case(caseworker)
    text = text_of(signed_in(caseworker).get("/records/incident/"))
    assert incident.short_id in text
    assert case.short_id not in text


def test_incident_page_names_the_type(caseworker: User) -> None:
    record = new_incident(caseworker)
    text = text_of(signed_in(caseworker).get(f"/records/incident/{record.pk}/"))
    assert f"<title>Incident {record.short_id} · Tutela</title>" in text


def test_incident_registration_shows_its_first_section(caseworker: User) -> None:
    html = signed_in(caseworker).get("/records/incident/new").content.decode()
    assert 'name="f_incident_date"' in html


def test_incident_registration_creates_the_incident(caseworker: User) -> None:
    response = signed_in(caseworker).post(
        "/records/incident/new", {"f_incident_date": "2024-01-05", "f_description": "A fight"}
    )
    record = Record.objects.get(record_type__unique_id="incident")
    assert response["Location"] == f"/records/incident/{record.pk}/"


def test_incident_registration_names_a_missing_field(caseworker: User) -> None:
    response = signed_in(caseworker).post("/records/incident/new", {"f_description": "A fight"})
    assert re.search(
        r'id="id_f_incident_date-error">[^<]*This field is required', text_of(response)
    )


def test_incident_bad_date_not_called_missing(caseworker: User) -> None:
    response = signed_in(caseworker).post(
        "/records/incident/new", {"f_incident_date": "2026-13-45", "f_description": "A fight"}
    )
    assert "is required" not in text_of(response)


def test_family_registration_warns_of_a_possible_duplicate(caseworker: User) -> None:
    existing = new_family(caseworker, family_name="Hadad")
    response = signed_in(caseworker).post("/records/family/new", {"f_family_name": "Haddad"})
    text = text_of(response)
    assert existing.short_id in text
    assert "This may already be registered." in text


def test_family_registration_anyway_creates_the_family(caseworker: User) -> None:
    new_family(caseworker, family_name="Hadad")
    signed_in(caseworker).post(
        "/records/family/new", {"f_family_name": "Haddad", "confirm_new": "1"}
    )
    assert Record.objects.filter(record_type__unique_id="family").count() == 2


def test_family_history_lists_its_changes(caseworker: User) -> None:
    record = new_family(caseworker)
    actions.update_record(record.pk, {"housing": "camp"}, caseworker, base_version=1)
    text = text_of(signed_in(caseworker).get(f"/records/family/{record.pk}/history"))
    assert re.search(r"Housing</th> <td[^>]*>—</td> <td[^>]*>Camp</td>", text)


def test_incident_section_edit_saves(caseworker: User) -> None:
    record = new_incident(caseworker)
    signed_in(caseworker).post(
        f"/records/incident/{record.pk}/sections/incident_details/edit",
        {"version": "1", "f_incident_date": "2024-01-05", "f_description": "A fight"},
    )
    record.refresh_from_db()
    assert record.data["description"] == "A fight"


# Home


def test_home_lists_my_latest_open_cases(caseworker: User) -> None:
    record = new_case(caseworker)
    assert record in signed_in(caseworker).get("/").context["latest_cases"]


def test_home_lists_records_viewed_lately(caseworker: User) -> None:
    record = new_incident(caseworker)
    client = signed_in(caseworker)
    client.get(f"/records/incident/{record.pk}/")
    assert client.get("/").context["recent"] == [record]


def test_home_hides_viewed_records_now_out_of_scope(caseworker: User, colleague: User) -> None:
    record = new_case(colleague)
    client = signed_in(caseworker)
    client.get(f"/cases/{record.pk}/")
    caseworker.agency = Agency.objects.create(unique_id="agency-three", name={"en": "Three"})
    caseworker.save()
    assert client.get("/").context["recent"] == []


def test_recently_viewed_keeps_the_latest_twenty(caseworker: User) -> None:
    client = signed_in(caseworker)
    for _ in range(22):
        client.get(f"/cases/{new_case(caseworker).pk}/")
    assert RecentView.objects.filter(user=caseworker).count() == 20


def test_home_counts_records_per_status(caseworker: User) -> None:
    new_incident(caseworker)
    closed = new_incident(caseworker)
    actions.set_status(closed.pk, actions.Status.CLOSED, caseworker, base_version=1)
    counts = signed_in(caseworker).get("/").context["counts"]
    incident = next(c for c in counts if c.kind.unique_id == "incident")
    assert incident.open == 1
    assert incident.closed == 1


def test_home_counts_leave_out_other_agencies(caseworker: User, outsider: User) -> None:
    new_incident(outsider)
    counts = signed_in(caseworker).get("/").context["counts"]
    assert all(c.open == 0 for c in counts)


def test_home_query_count(caseworker: User, django_assert_max_num_queries: Any) -> None:
    client = signed_in(caseworker)
    for _ in range(10):
        client.get(f"/cases/{new_case(caseworker).pk}/")
    client.get("/")
    # One more than before roles: the user's role.
    with django_assert_max_num_queries(9):
        client.get("/")


# List filters, sort, disabled records


def test_list_offers_filters_for_list_selects(caseworker: User) -> None:
    html = signed_in(caseworker).get("/cases/").content.decode()
    assert '<select id="filter-sex" name="f_sex">' in html


def test_list_filters_on_a_select(caseworker: User) -> None:
    female = new_case(caseworker, sex="female")
    male = new_case(caseworker, sex="male")
    text = text_of(signed_in(caseworker).get("/cases/?f_sex=female"))
    assert female.short_id in text
    assert male.short_id not in text


def test_list_filters_on_a_tick_box(caseworker: User) -> None:
    displaced = new_family(caseworker, displaced=True)
    settled = new_family(caseworker, displaced=False)
    text = text_of(signed_in(caseworker).get("/records/family/?f_displaced=true"))
    assert displaced.short_id in text
    assert settled.short_id not in text


def test_list_filters_on_a_radio(caseworker: User) -> None:
    camp = new_family(caseworker, housing="camp")
    host = new_family(caseworker, housing="host")
    text = text_of(signed_in(caseworker).get("/records/family/?f_housing=host"))
    assert camp.short_id not in text
    assert host.short_id in text


def test_list_sorts_by_name(caseworker: User) -> None:
    new_case(caseworker, name_first="Zeynep")
    new_case(caseworker, name_first="Amira")
    rows = signed_in(caseworker).get("/cases/?sort=name").context["listing"].rows
    assert [row.record.display_name for row in rows] == ["Amira", "Zeynep"]


def test_list_sorts_by_short_id(caseworker: User) -> None:
    records = [new_case(caseworker) for _ in range(3)]
    rows = signed_in(caseworker).get("/cases/?sort=short_id").context["listing"].rows
    assert [row.record.short_id for row in rows] == sorted(r.short_id for r in records)


def test_list_without_names_offers_no_name_sort(caseworker: User) -> None:
    sorts = signed_in(caseworker).get("/records/incident/").context["sorts"]
    assert "name" not in [key for key, _ in sorts]


def test_list_ignores_an_unknown_sort(caseworker: User) -> None:
    response = signed_in(caseworker).get("/cases/?sort=password")
    assert response.context["filters"].sort == "updated"


def disabled_case(user: User) -> Record:
    record = new_case(user)
    return actions.set_disabled(record.pk, True, user, base_version=1)


def test_list_hides_disabled_records(caseworker: User) -> None:
    record = disabled_case(caseworker)
    assert record.short_id not in text_of(signed_in(caseworker).get("/cases/"))


def test_staff_list_shows_disabled_records_on_request(caseworker: User, supervisor: User) -> None:
    record = disabled_case(caseworker)
    text = text_of(signed_in(supervisor).get("/cases/?scope=all&disabled=1"))
    assert record.short_id in text


def test_role_without_disable_cannot_list_disabled(caseworker: User) -> None:
    record = disabled_case(caseworker)
    role = caseworker.role
    role.permissions = {**role.permissions, "case": ["read", "write"]}
    role.save()
    assert record.short_id not in text_of(signed_in(caseworker).get("/cases/?disabled=1"))


def test_list_query_count_with_filters(
    caseworker: User, django_assert_max_num_queries: Any
) -> None:
    for number in range(30):
        new_family(caseworker, family_name=f"Family{number}", housing="camp", displaced=True)
    client = signed_in(caseworker)
    url = "/records/family/?f_housing=camp&f_displaced=true&sort=name"
    client.get(url)
    # Three of them append the search's audit entry: a filtered list is a search.
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert len(response.context["listing"].rows) == 25


# Saved searches


def save(client: Client, name: str = "Haddads", filters: str = "status=open&scope=mine") -> Any:
    return client.post("/cases/searches/", {"name": name, "filters": filters})


def test_saved_search_keeps_the_text_on_the_server(caseworker: User) -> None:
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "name"})
    response = save(client)
    saved = SavedSearch.objects.get()
    assert saved.mode == "name"
    assert saved.text == "Layla"
    assert "Layla" not in response["Location"]


def test_saved_search_keeps_the_filters(caseworker: User) -> None:
    # Not sort=name: the sample configuration's names are sensitive, so stored encrypted,
    # and a list cannot be sorted by them.
    save(signed_in(caseworker), filters="status=closed&scope=mine&f_sex=female&sort=created")
    assert SavedSearch.objects.get().filters == {
        "status": "closed",
        "scope": "mine",
        "sort": "created",
        "f_sex": "female",
    }


def test_opening_a_saved_search_runs_it(caseworker: User) -> None:
    layla = new_case(caseworker, name_first="Layla")
    samir = new_case(caseworker, name_first="Samir")
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "text"})
    save(client)
    client.post("/cases/", {"q": "", "clear": "1"})
    opened = client.post(f"/cases/searches/{SavedSearch.objects.get().pk}/open")
    text = text_of(client.get(opened["Location"]))
    assert layla.short_id in text
    assert samir.short_id not in text


def test_opened_search_text_stays_out_of_address(caseworker: User) -> None:
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "text"})
    save(client)
    opened = client.post(f"/cases/searches/{SavedSearch.objects.get().pk}/open")
    assert "Layla" not in opened["Location"]


def test_list_shows_my_saved_searches(caseworker: User) -> None:
    client = signed_in(caseworker)
    save(client, name="My open girls")
    assert "My open girls" in text_of(client.get("/cases/"))


def test_saved_search_of_another_user_is_not_found(caseworker: User, colleague: User) -> None:
    save(signed_in(caseworker))
    pk = SavedSearch.objects.get().pk
    assert signed_in(colleague).post(f"/cases/searches/{pk}/open").status_code == 404


def test_saved_search_is_deleted(caseworker: User) -> None:
    client = signed_in(caseworker)
    save(client)
    client.post(f"/cases/searches/{SavedSearch.objects.get().pk}/delete")
    assert not SavedSearch.objects.exists()


def test_saving_a_search_is_audited_without_its_text(caseworker: User) -> None:
    client = signed_in(caseworker)
    client.post("/cases/", {"q": "Layla", "mode": "name"})
    save(client, name="Layla's family")
    entry = AuditEntry.objects.filter(action="saved_search.create").get()
    assert "Layla" not in str(entry.details)


def test_saving_a_search_needs_a_name(caseworker: User) -> None:
    save(signed_in(caseworker), name=" ")
    assert not SavedSearch.objects.exists()


# Disabling and enabling


def disable(client: Client, record: Record, disabled: str = "1", version: int = 1) -> Any:
    return client.post(
        f"/cases/{record.pk}/disabled", {"version": str(version), "disabled": disabled}
    )


def test_owner_disables_a_record(caseworker: User) -> None:
    record = new_case(caseworker)
    disable(signed_in(caseworker), record)
    record.refresh_from_db()
    assert record.disabled


def test_disabling_is_audited(caseworker: User) -> None:
    record = new_case(caseworker)
    disable(signed_in(caseworker), record)
    assert AuditEntry.objects.filter(action="case.disable", object_id=str(record.pk)).exists()


def test_disabled_record_shows_a_banner(caseworker: User) -> None:
    record = disabled_case(caseworker)
    text = text_of(signed_in(caseworker).get(f"/cases/{record.pk}/"))
    assert "This record is disabled." in text


def test_disabled_record_offers_no_edit(caseworker: User) -> None:
    record = disabled_case(caseworker)
    html = signed_in(caseworker).get(f"/cases/{record.pk}/").content.decode()
    assert "/edit" not in html


def test_disabled_record_refuses_a_section_save(caseworker: User) -> None:
    record = disabled_case(caseworker)
    signed_in(caseworker).post(
        f"/cases/{record.pk}/sections/basic_identity/edit",
        {"version": "2", "f_name_first": "Amal", "f_phone": "1"},
    )
    record.refresh_from_db()
    assert "phone" not in record.data


def test_colleague_may_not_disable(caseworker: User, colleague: User) -> None:
    # Out of the colleague's scope, the record is not found.
    record = new_case(caseworker)
    assert disable(signed_in(colleague), record).status_code == 404


def test_disabling_a_changed_record_is_refused(caseworker: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"phone": "1"}, caseworker, base_version=1)
    disable(signed_in(caseworker), record, version=1)
    record.refresh_from_db()
    assert not record.disabled


def test_owner_enables_a_record(caseworker: User) -> None:
    record = disabled_case(caseworker)
    disable(signed_in(caseworker), record, disabled="0", version=2)
    record.refresh_from_db()
    assert not record.disabled


# Edit conflicts


def edit_url(record: Record, section: str = "basic_identity") -> str:
    return f"/cases/{record.pk}/sections/{section}/edit"


def identity(version: int = 1, **values: str) -> dict[str, str]:
    return {"version": str(version), "f_name_first": "Amal", **values}


def test_save_on_an_older_version_keeps_both_changes(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"concerns": ["labour"]}, colleague, base_version=1)
    signed_in(caseworker).post(edit_url(record), identity(f_phone="555 0101"))
    record.refresh_from_db()
    assert record.data["phone"] == "555 0101"
    assert record.data["concerns"] == ["labour"]


def test_merged_save_names_the_other_person(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"concerns": ["labour"]}, colleague, base_version=1)
    response = signed_in(caseworker).post(
        edit_url(record), identity(f_phone="555 0101"), follow=True
    )
    assert "bruno also saved changes to: Concerns" in text_of(response)


def test_merged_save_keeps_their_section_change(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"name_last": "Haddad"}, colleague, base_version=1)
    signed_in(caseworker).post(edit_url(record), identity(f_phone="555 0101"))
    record.refresh_from_db()
    assert record.data["name_last"] == "Haddad"


def conflicted(caseworker: User, colleague: User) -> tuple[Record, Any]:
    """Amina and Bruno both change the phone and the age; Bruno saves first."""
    record = new_case(caseworker, phone="1", age=5)
    actions.update_record(record.pk, {"phone": "2", "age": 6}, colleague, base_version=1)
    client = signed_in(caseworker)
    client.post(edit_url(record), identity(f_phone="3", f_age="7"))
    return record, client


def test_conflict_saves_nothing_yet(caseworker: User, colleague: User) -> None:
    record, _ = conflicted(caseworker, colleague)
    record.refresh_from_db()
    assert record.version == 2
    assert record.data["phone"] == "2"


def test_conflict_page_shows_the_three_values(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker, phone="1")
    actions.update_record(record.pk, {"phone": "2"}, colleague, base_version=1)
    text = text_of(signed_in(caseworker).post(edit_url(record), identity(f_phone="3")))
    assert re.search(
        r"When you opened the form</dt><dd>1</dd>.*Theirs</dt><dd>2</dd>.*Yours</dt><dd>3</dd>",
        text,
    )


def test_conflict_page_is_based_on_the_current_version(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker, phone="1")
    actions.update_record(record.pk, {"phone": "2"}, colleague, base_version=1)
    html = signed_in(caseworker).post(edit_url(record), identity(f_phone="3")).content.decode()
    assert 'name="version" value="2"' in html


def resolve(client: Client, record: Record, **choices: str) -> Any:
    values = identity(version=2, f_phone="3", f_age="7")
    values["conflicts"] = list(choices)  # type: ignore[assignment]
    values.update({f"resolve.{name}": choice for name, choice in choices.items()})
    values["original"] = "1"
    return client.post(edit_url(record), values)


def test_resolving_takes_one_field_from_each_side(caseworker: User, colleague: User) -> None:
    record, client = conflicted(caseworker, colleague)
    resolve(client, record, phone="mine", age="theirs")
    record.refresh_from_db()
    assert record.data["phone"] == "3"
    assert record.data["age"] == 6


def test_resolving_saves_against_the_current_version(caseworker: User, colleague: User) -> None:
    record, client = conflicted(caseworker, colleague)
    resolve(client, record, phone="mine", age="theirs")
    saved = RecordHistory.objects.get(record=record, version=3)
    assert saved.user == caseworker
    assert saved.changes == {"phone": {"old": "2", "new": "3"}}


def test_resolving_without_a_choice_asks_again(caseworker: User, colleague: User) -> None:
    record, client = conflicted(caseworker, colleague)
    response = resolve(client, record, phone="mine", age="")
    assert "Choose whose value to keep." in text_of(response)


def test_resolving_without_a_choice_saves_nothing(caseworker: User, colleague: User) -> None:
    record, client = conflicted(caseworker, colleague)
    resolve(client, record, phone="mine", age="")
    record.refresh_from_db()
    assert record.version == 2


def test_another_save_during_resolution_is_merged_too(caseworker: User, colleague: User) -> None:
    record, client = conflicted(caseworker, colleague)
    actions.update_record(record.pk, {"concerns": ["labour"]}, colleague, base_version=2)
    resolve(client, record, phone="mine", age="theirs")
    record.refresh_from_db()
    assert record.data["phone"] == "3"
    assert record.data["concerns"] == ["labour"]


def test_subform_conflict_shows_both_rows(caseworker: User, colleague: User) -> None:
    record = new_case(caseworker)
    row = {"unique_id": "r1", "service_type": "health"}
    actions.update_record(
        record.pk, {"services": [{**row, "service_type": "education"}]}, colleague, base_version=1
    )
    response = signed_in(caseworker).post(
        edit_url(record, "services"),
        {
            "version": "1",
            "f_services.0.unique_id": "r1",
            "f_services.0.service_type": "health",
            "f_services.0.sessions_planned": "2",
        },
    )
    conflict = response.context["conflicts"][0]
    assert conflict.theirs.rows[0][0].text == "Education"
    assert conflict.mine.rows[0][0].text == "Health"


@pytest.mark.parametrize(
    ("language", "word"),
    [("fr", "Familles"), ("es", "Familias"), ("pt", "Famílias"), ("ar", "الأسر")],
)
def test_family_list_is_translated(caseworker: User, language: str, word: str) -> None:
    client = signed_in(caseworker)
    client.post("/language/", {"language": language, "next": "/"})
    assert f"<h1>{word}</h1>" in client.get("/records/family/").content.decode()


@pytest.mark.parametrize(("language", "word"), [("fr", "Prendre la leur"), ("ar", "اعتماد قيمة")])
def test_conflict_choice_is_translated(
    caseworker: User, colleague: User, language: str, word: str
) -> None:
    record = new_case(caseworker, phone="1")
    actions.update_record(record.pk, {"phone": "2"}, colleague, base_version=1)
    client = signed_in(caseworker)
    client.post("/language/", {"language": language, "next": "/"})
    assert word in client.post(edit_url(record), identity(f_phone="3")).content.decode()
