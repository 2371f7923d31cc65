"""Who sees what: every list, search, count, record page, history, access log, attachment and
API endpoint.

The cast: Amina and Bruno, caseworkers of team one; Carla, a caseworker of team two; Maya, the
manager of team one; Omar, who reads every record of agency two; Olga, a caseworker of agency
two; Ada, an administrator; Rita, a service provider to whom one of Amina's cases is referred.
Each test asks every member of the cast and compares the records they get with the records
their role and scope allow, exactly. Tutela has no export yet, so no export is tested.
"""

import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.conftest import signed_in_client
from tutela.access import actions as access_actions
from tutela.access.models import Agency, Role, User, UserGroup
from tutela.access.permissions import record_scope, record_scope_parts
from tutela.attachments.actions import add_attachment
from tutela.attachments.models import Attachment
from tutela.audit.models import AuditEntry
from tutela.configuration.forms import get_form
from tutela.records import actions
from tutela.records.models import Record
from tutela.records.search import Criteria, search

pytestmark = pytest.mark.usefixtures("sample_config")

PEOPLE = ("amina", "bruno", "carla", "maya", "omar", "olga", "ada", "rita")
RECORDS = ("amina-1", "amina-2", "bruno-1", "carla-1", "maya-1", "omar-1", "olga-1")
VISIBLE = {
    "amina": {"amina-1", "amina-2"},
    "bruno": {"bruno-1"},
    "carla": {"carla-1"},
    "maya": {"amina-1", "amina-2", "bruno-1", "maya-1"},
    "omar": {"omar-1", "olga-1"},
    "olga": {"olga-1"},
    "ada": set(RECORDS),
    "rita": {"amina-1"},
}
# Rita's role: the identity section read only, services writable, everything else hidden.
RITA_SECTIONS = {"basic_identity": "read", "services": "write"}
PROTECTION_FIELDS = {"concerns", "risk_level", "urgent_action", "consent", "visits"}


@dataclass
class Cast:
    users: dict[str, User]
    records: dict[str, Record]
    photo: Attachment

    def client(self, person: str) -> Client:
        client: Client = signed_in_client(self.users[person])
        return client

    def label_of(self, record_id: Any) -> str:
        return next(label for label, r in self.records.items() if str(r.pk) == str(record_id))

    def labels(self, short_ids: set[str]) -> set[str]:
        return {label for label, r in self.records.items() if r.short_id in short_ids}


def jpeg() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 30)).save(out, "JPEG")
    return SimpleUploadedFile("photo.jpg", out.getvalue(), content_type="image/jpeg")


def make_user(name: str, agency: Agency, role: Role, *groups: UserGroup) -> User:
    user = User.objects.create_user(
        name, password="correct horse battery", agency=agency, role=role
    )
    user.user_groups.add(*groups)
    return user


@pytest.fixture
def cast(
    settings: Any,
    tmp_path: Any,
    agency: Agency,
    team: UserGroup,
    roles: dict[str, Role],
    caseworker: User,
    colleague: User,
) -> Cast:
    settings.MEDIA_ROOT = tmp_path / "media"
    agency_two = Agency.objects.create(unique_id="agency-two", name={"en": "Agency Two"})
    team_two = UserGroup.objects.create(unique_id="team-two", name={"en": "Team Two"})
    agency_reader = Role.objects.create(
        unique_id="agency-reader",
        name={"en": "Agency reader"},
        permissions={"case": ["read", "create", "write"]},
        record_scope="agency",
    )
    provider = Role.objects.create(
        unique_id="provider",
        name={"en": "Provider"},
        permissions={"case": ["read", "write"]},
        record_scope="own",
        form_sections=RITA_SECTIONS,
        form_section_default="hidden",
    )
    users = {
        "amina": caseworker,
        "bruno": colleague,
        "carla": make_user("carla", agency, roles["caseworker"], team_two),
        "maya": make_user("maya", agency, roles["manager"], team),
        "omar": make_user("omar", agency_two, agency_reader),
        "olga": make_user("olga", agency_two, roles["caseworker"]),
        "ada": make_user("ada", agency, roles["administrator"]),
        "rita": make_user("rita", agency_two, provider),
    }
    records = {}
    for label in RECORDS:
        owner = users[label.split("-")[0]]
        values = {
            "name_first": "Zora",
            "name_last": f"Family{label.replace('-', '')}",
            "sex": "female",
            "risk_level": "low",
        }
        records[label] = actions.create_record("case", values, owner)
    photo = add_attachment(
        records["amina-1"].pk,
        get_form("case").fields["photo"],
        "photo",
        jpeg(),
        users["amina"],
    )
    access_actions.refer_record(users["amina"], records["amina-1"], users["rita"])
    return Cast(users, records, photo)


def status_of(response: Any) -> int:
    return int(response.status_code)


def fetch(client: Client, url: str) -> Any:
    """GET a file and read it to the end, which closes it."""
    response: Any = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


# Web pages


@pytest.mark.parametrize("person", PEOPLE)
def test_case_list_shows_exactly_the_scope(cast: Cast, person: str) -> None:
    response = cast.client(person).get("/cases/?scope=all&status=any")
    shown = {row.record.short_id for row in response.context["listing"].rows}
    assert cast.labels(shown) == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_text_search_finds_exactly_the_scope(cast: Cast, person: str) -> None:
    client = cast.client(person)
    client.post("/cases/", {"q": "Zora", "mode": "text"})
    response = client.get("/cases/?scope=all&status=any")
    shown = {row.record.short_id for row in response.context["listing"].rows}
    assert cast.labels(shown) == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_name_search_finds_exactly_the_scope(cast: Cast, person: str) -> None:
    client = cast.client(person)
    client.post("/cases/", {"q": "Zora", "mode": "name"})
    response = client.get("/cases/?scope=all&status=any")
    shown = {row.record.short_id for row in response.context["listing"].rows}
    assert cast.labels(shown) == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_home_counts_exactly_the_scope(cast: Cast, person: str) -> None:
    response = cast.client(person).get("/")
    counts = {c.kind.unique_id: c.open for c in response.context["counts"]}
    assert counts["case"] == len(VISIBLE[person])


@pytest.mark.parametrize("person", PEOPLE)
def test_record_pages_open_exactly_the_scope(cast: Cast, person: str) -> None:
    client = cast.client(person)
    opened = {
        label
        for label, record in cast.records.items()
        if status_of(client.get(f"/cases/{record.pk}/")) == 200
    }
    assert opened == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_history_pages_open_exactly_the_scope(cast: Cast, person: str) -> None:
    client = cast.client(person)
    opened = {
        label
        for label, record in cast.records.items()
        if status_of(client.get(f"/cases/{record.pk}/history")) == 200
    }
    assert opened == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_access_log_opens_in_scope_for_audit_readers(cast: Cast, person: str) -> None:
    # Of the cast only Ada's role reads the audit log; the others get 403 where they see the
    # record and 404 where they do not.
    client = cast.client(person)
    statuses = {
        label: status_of(client.get(f"/cases/{record.pk}/access-log"))
        for label, record in cast.records.items()
    }
    for label, got in statuses.items():
        if label not in VISIBLE[person]:
            assert got == 404, label
        else:
            assert got == (200 if person == "ada" else 403), label


@pytest.mark.parametrize("person", PEOPLE)
def test_attachment_served_exactly_in_scope(cast: Cast, person: str) -> None:
    response = fetch(cast.client(person), f"/attachments/{cast.photo.pk}")
    expected = 200 if "amina-1" in VISIBLE[person] else 404
    assert status_of(response) == expected


# API


@pytest.mark.parametrize("person", PEOPLE)
def test_api_list_returns_exactly_the_scope(cast: Cast, person: str) -> None:
    body = cast.client(person).get("/api/v1/records/case/?limit=100").json()
    assert {cast.label_of(r["id"]) for r in body["results"]} == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("query", [{"text": "Zora"}, {"name": "Zora"}, {"status": "open"}])
def test_api_search_returns_exactly_the_scope(
    cast: Cast, person: str, query: dict[str, str]
) -> None:
    response = cast.client(person).post(
        "/api/v1/records/case/search", {**query, "limit": 100}, "application/json"
    )
    assert {cast.label_of(r["id"]) for r in response.json()["results"]} == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_api_record_and_history_exactly_in_scope(cast: Cast, person: str) -> None:
    client = cast.client(person)
    read = set()
    history = set()
    for label, record in cast.records.items():
        if status_of(client.get(f"/api/v1/records/case/{record.pk}")) == 200:
            read.add(label)
        if status_of(client.get(f"/api/v1/records/case/{record.pk}/history")) == 200:
            history.add(label)
    assert read == VISIBLE[person]
    assert history == VISIBLE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_api_duplicates_stay_in_scope(cast: Cast, person: str) -> None:
    response = cast.client(person).post(
        "/api/v1/records/case/duplicates",
        {"data": {"name_first": "Zora", "name_last": "Familyamina1", "sex": "female"}},
        "application/json",
    )
    found = {cast.label_of(d["record"]["id"]) for d in response.json()}
    assert found <= VISIBLE[person]
    assert ("amina-1" in found) == ("amina-1" in VISIBLE[person])


def test_registration_names_no_out_of_scope_duplicate(cast: Cast) -> None:
    # Bruno's role has no search_others: Amina's possible duplicate is not even named.
    response = cast.client("bruno").post(
        "/cases/new", {"f_name_first": "Zora", "f_name_last": "Familyamina1", "f_sex": "female"}
    )
    assert cast.records["amina-1"].short_id not in response.content.decode()


def test_group_list_by_parts_pages_like_one_query(cast: Cast) -> None:
    maya = cast.users["maya"]
    for n in range(12):
        actions.create_record("case", {"name_first": f"Extra{n}"}, cast.users["bruno"])

    def pages(parts: list[Any]) -> list[list[str]]:
        seen, cursor = [], None
        while True:
            criteria = Criteria("case", scope=record_scope(maya, "case"), scope_parts=parts)
            page = search(criteria, limit=5, cursor=cursor)
            seen.append([r.short_id for r in page.records])
            cursor = page.next_cursor
            if cursor is None:
                return seen

    parts = record_scope_parts(maya, "case")
    assert len(parts) == 3
    assert pages(parts) == pages([])


# Form sections


def test_hidden_section_left_out_of_api_record(cast: Cast) -> None:
    record = cast.records["amina-1"]
    data = cast.client("rita").get(f"/api/v1/records/case/{record.pk}").json()["data"]
    assert "risk_level" not in data
    assert data["name_first"] == "Zora"


def test_hidden_section_left_out_of_api_history(cast: Cast) -> None:
    record = cast.records["amina-1"]
    history = cast.client("rita").get(f"/api/v1/records/case/{record.pk}/history").json()
    changed = {name for entry in history for name in entry["changes"]}
    assert "name_first" in changed
    assert not changed & PROTECTION_FIELDS


def test_hidden_section_left_out_of_record_page(cast: Cast) -> None:
    record = cast.records["amina-1"]
    text = cast.client("rita").get(f"/cases/{record.pk}/").content.decode()
    assert 'id="section-protection"' not in text
    assert 'id="section-basic_identity"' in text


def test_hidden_section_edit_page_not_found(cast: Cast) -> None:
    record = cast.records["amina-1"]
    response = cast.client("rita").get(f"/cases/{record.pk}/sections/protection/edit")
    assert status_of(response) == 404


def test_read_only_section_edit_page_forbidden(cast: Cast) -> None:
    record = cast.records["amina-1"]
    response = cast.client("rita").get(f"/cases/{record.pk}/sections/basic_identity/edit")
    assert status_of(response) == 403


def test_read_only_section_has_no_edit_link(cast: Cast) -> None:
    record = cast.records["amina-1"]
    text = cast.client("rita").get(f"/cases/{record.pk}/").content.decode()
    assert f"/cases/{record.pk}/sections/basic_identity/edit" not in text


@pytest.mark.parametrize("field", ["phone", "risk_level"])
def test_api_rejects_write_outside_writable_sections(cast: Cast, field: str) -> None:
    record = cast.records["amina-1"]
    response = cast.client("rita").patch(
        f"/api/v1/records/case/{record.pk}",
        {"data": {field: "1"}},
        "application/json",
        HTTP_IF_MATCH='"1"',
    )
    assert status_of(response) == 403
    assert field in response.json()["error"]["message"]
    record.refresh_from_db()
    assert record.version == 1


def test_api_accepts_write_to_writable_section(cast: Cast) -> None:
    record = cast.records["amina-1"]
    response = cast.client("rita").patch(
        f"/api/v1/records/case/{record.pk}",
        {"data": {"services": [{"service_type": "health"}]}},
        "application/json",
        HTTP_IF_MATCH='"1"',
    )
    assert status_of(response) in (200, 400), response.content
    if status_of(response) == 400:
        # Rejected by validation of the row's values, never by permission.
        assert response.json()["error"]["code"] != "permission_denied"


def test_attachment_in_hidden_section_not_found(cast: Cast) -> None:
    rita = cast.users["rita"]
    assert rita.role is not None
    rita.role.form_sections = {"services": "write"}
    rita.role.save()
    response = fetch(cast.client("rita"), f"/attachments/{cast.photo.pk}")
    assert status_of(response) == 404


# Actions


def test_caseworker_cannot_disable_through_api_without_permission(cast: Cast) -> None:
    record = cast.records["amina-1"]
    response = cast.client("rita").post(
        f"/api/v1/records/case/{record.pk}/disable", HTTP_IF_MATCH='"1"'
    )
    assert status_of(response) == 403


def test_referral_makes_a_record_visible(cast: Cast) -> None:
    record = cast.records["amina-2"]
    response = cast.client("amina").post(
        f"/api/v1/records/case/{record.pk}/referrals", {"recipient": "rita"}, "application/json"
    )
    assert status_of(response) == 201
    assert status_of(cast.client("rita").get(f"/cases/{record.pk}/")) == 200


def test_referral_of_unseen_record_not_found(cast: Cast) -> None:
    record = cast.records["amina-2"]
    response = cast.client("bruno").post(
        f"/api/v1/records/case/{record.pk}/referrals", {"recipient": "rita"}, "application/json"
    )
    assert status_of(response) == 404


def test_referral_needs_refer_permission(cast: Cast) -> None:
    record = cast.records["omar-1"]
    response = cast.client("omar").post(
        f"/api/v1/records/case/{record.pk}/referrals", {"recipient": "rita"}, "application/json"
    )
    assert status_of(response) == 403


def test_referral_is_audited(cast: Cast) -> None:
    entry = AuditEntry.objects.filter(action="case.refer").get()
    assert entry.object_id == str(cast.records["amina-1"].pk)
    assert entry.actor == "amina"


def test_manager_grants_a_grantable_role(cast: Cast, roles: dict[str, Role]) -> None:
    carla = cast.users["carla"]
    access_actions.set_role(cast.users["maya"], carla, "service_provider")
    carla.refresh_from_db()
    assert carla.role == roles["service_provider"]
    entry = AuditEntry.objects.filter(action="user.role_change").latest("id")
    assert entry.details == {"old": "caseworker", "new": "service_provider"}


def test_manager_cannot_grant_administrator(cast: Cast) -> None:
    carla = cast.users["carla"]
    with pytest.raises(access_actions.AccessDenied, match="administrator"):
        access_actions.set_role(cast.users["maya"], carla, "administrator")
    carla.refresh_from_db()
    assert carla.role is not None
    assert carla.role.unique_id == "caseworker"
    assert AuditEntry.objects.filter(action="user.role_change", outcome="denied").exists()


def test_manager_cannot_demote_an_administrator(cast: Cast) -> None:
    with pytest.raises(access_actions.AccessDenied):
        access_actions.set_role(cast.users["maya"], cast.users["ada"], "caseworker")


def test_caseworker_cannot_grant_roles(cast: Cast) -> None:
    with pytest.raises(access_actions.AccessDenied):
        access_actions.set_role(cast.users["amina"], cast.users["bruno"], "caseworker")


def test_group_change_is_audited(cast: Cast) -> None:
    access_actions.set_user_groups(cast.users["ada"], cast.users["carla"], ["team-one"])
    entry = AuditEntry.objects.filter(action="user.groups_change").latest("id")
    assert entry.details == {"old": ["team-two"], "new": ["team-one"]}


def test_group_change_moves_the_managers_view(cast: Cast) -> None:
    access_actions.set_user_groups(cast.users["ada"], cast.users["carla"], ["team-one"])
    response = cast.client("maya").get("/cases/?scope=all&status=any")
    shown = {row.record.short_id for row in response.context["listing"].rows}
    assert cast.labels(shown) == VISIBLE["maya"] | {"carla-1"}


def test_disabled_role_sees_nothing(cast: Cast) -> None:
    role = cast.users["omar"].role
    assert role is not None
    role.disabled = True
    role.save()
    response = cast.client("omar").get("/api/v1/records/case/?limit=100")
    assert response.json()["results"] == []


def test_user_without_role_sees_nothing(cast: Cast) -> None:
    User.objects.filter(username="olga").update(role=None)
    response = cast.client("olga").get("/api/v1/records/case/?limit=100")
    assert response.json()["results"] == []


def test_configuration_screens_need_the_permission(cast: Cast) -> None:
    assert status_of(cast.client("maya").get("/configuration/")) == 403
    assert status_of(cast.client("ada").get("/configuration/")) == 200
