"""REST API v1: token auth, the error shape, ETag and If-Match, search, history, configuration."""

from typing import Any

import pytest
from django.test import Client

from tutela.access.models import User
from tutela.access.tokens import issue_token

pytestmark = pytest.mark.usefixtures("sample_config")

BASE = "/api/v1/records/case/"


@pytest.fixture
def api(caseworker: User) -> Client:
    """A client that authenticates with Amina's API token."""
    _, token = issue_token(caseworker, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def create(api: Client, **values: Any) -> dict[str, Any]:
    response = api.post(BASE, {"data": {"name_first": "Amal", **values}}, "application/json")
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_anonymous_refused(db: None) -> None:
    response = Client().get(BASE)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_token_refused_without_echo(db: None) -> None:
    client = Client(HTTP_AUTHORIZATION="Bearer tut_abc_secretvalue")
    response = client.get(BASE)
    assert response.status_code == 401
    assert "secretvalue" not in response.content.decode()
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revoked_token_refused(caseworker: User) -> None:
    row, token = issue_token(caseworker, "old")
    row.revoked = True
    row.save()
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(BASE)
    assert response.status_code == 401


def test_token_stored_hashed(caseworker: User) -> None:
    row, token = issue_token(caseworker, "tests")
    assert token.split("_", 2)[2] not in row.key_hash
    assert len(row.key_hash) == 64


def test_create_returns_record_and_etag(api: Client) -> None:
    response = api.post(BASE, {"data": {"name_first": "Amal", "sex": "female"}}, "application/json")
    assert response.status_code == 201
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["data"] == {"name_first": "Amal", "sex": "female"}
    assert body["owner"] == "amina"
    assert body["version"] == 1


def test_validation_error_shape(api: Client) -> None:
    response = api.post(BASE, {"data": {"name_first": "Amal", "sex": "x"}}, "application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [d["path"] for d in error["details"]] == ["sex"]


def test_malformed_body_shape(api: Client) -> None:
    response = api.post(BASE, "{not json", "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    response = api.post(BASE, {"data": "text"}, "application/json")
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_record_type(api: Client) -> None:
    response = api.get("/api/v1/records/spaceship/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_record_type"


def test_read_etag_and_not_modified(api: Client) -> None:
    record = create(api)
    url = f"{BASE}{record['id']}"
    response = api.get(url)
    assert response["ETag"] == '"1"'
    assert api.get(url, HTTP_IF_NONE_MATCH='"1"').status_code == 304


def test_update_needs_if_match(api: Client) -> None:
    record = create(api)
    response = api.patch(f"{BASE}{record['id']}", {"data": {"age": 5}}, "application/json")
    assert response.status_code == 428
    assert response.json()["error"]["code"] == "precondition_required"


def test_update_with_current_etag(api: Client) -> None:
    record = create(api)
    response = api.patch(
        f"{BASE}{record['id']}", {"data": {"age": 5}}, "application/json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    assert response.json()["data"]["age"] == 5


def test_stale_if_match_gets_412_with_fields(api: Client) -> None:
    record = create(api)
    url = f"{BASE}{record['id']}"
    api.patch(url, {"data": {"age": 5}}, "application/json", HTTP_IF_MATCH='"1"')
    response = api.patch(url, {"data": {"sex": "male"}}, "application/json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    error = response.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["details"]["changed_fields"] == ["age"]
    assert response["ETag"] == '"2"'
    assert "sex" not in api.get(url).json()["data"]


def test_bad_if_match_value(api: Client) -> None:
    record = create(api)
    response = api.patch(
        f"{BASE}{record['id']}", {"data": {"age": 5}}, "application/json", HTTP_IF_MATCH="soon"
    )
    assert response.status_code == 400


def test_search_by_text_in_body(api: Client) -> None:
    wanted = create(api, name_last="Haddad")
    create(api, name_first="Omar")
    response = api.post(f"{BASE}search", {"text": "haddad"}, "application/json")
    assert [r["id"] for r in response.json()["results"]] == [wanted["id"]]


def test_search_by_fuzzy_name(api: Client) -> None:
    wanted = create(api, name_first="Mohammed", name_last="Ali")
    response = api.post(f"{BASE}search", {"name": "Ali Muhammad"}, "application/json")
    assert [r["id"] for r in response.json()["results"]] == [wanted["id"]]


def test_search_filters_and_invalid_filter(api: Client) -> None:
    girl = create(api, sex="female")
    create(api, sex="male")
    found = api.post(f"{BASE}search", {"filters": {"sex": "female"}}, "application/json")
    assert [r["id"] for r in found.json()["results"]] == [girl["id"]]
    bad = api.post(f"{BASE}search", {"filters": {"nope": "x"}}, "application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_search"


def test_search_unknown_key_is_400(api: Client) -> None:
    response = api.post(f"{BASE}search", {"q": "Lusia"}, "application/json")
    assert response.status_code == 400


def test_search_unknown_key_named_in_error(api: Client) -> None:
    response = api.post(f"{BASE}search", {"q": "Lusia"}, "application/json")
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["path"] == "q"
    assert error["details"][0]["message"].startswith("q is not a search key.")
    assert "text, name, status" in error["details"][0]["message"]


def test_list_cursor_paging(api: Client) -> None:
    ids = {create(api, name_first=f"Child{i}")["id"] for i in range(5)}
    seen: list[str] = []
    url = f"{BASE}?limit=2"
    for _ in range(5):
        body = api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        if not body["next_cursor"]:
            break
        url = f"{BASE}?limit=2&cursor={body['next_cursor']}"
    assert sorted(seen) == sorted(ids)


def test_list_mine_only(api: Client, colleague: User) -> None:
    mine = create(api)
    from tutela.records.actions import create_record

    create_record("case", {"name_first": "Other"}, colleague)
    body = api.get(f"{BASE}?owner=me").json()
    assert [r["id"] for r in body["results"]] == [mine["id"]]


def test_duplicates_endpoint(api: Client) -> None:
    existing = create(api, name_first="Mohammed", name_last="Ali", sex="male")
    response = api.post(
        f"{BASE}duplicates",
        {"data": {"name_first": "Muhamad", "name_last": "Ali", "sex": "male"}},
        "application/json",
    )
    assert [c["record"]["id"] for c in response.json()] == [existing["id"]]


def test_history_and_state_changes(api: Client) -> None:
    record = create(api)
    url = f"{BASE}{record['id']}"
    api.patch(url, {"data": {"age": 5}}, "application/json", HTTP_IF_MATCH='"1"')
    closed = api.post(f"{url}/close", HTTP_IF_MATCH='"2"')
    assert closed.json()["status"] == "closed"
    disabled = api.post(f"{url}/disable", HTTP_IF_MATCH='"3"')
    assert disabled.json()["disabled"] is True
    stale = api.post(f"{url}/enable", HTTP_IF_MATCH='"3"')
    assert stale.status_code == 412
    history = api.get(f"{url}/history").json()
    assert [h["action"] for h in history] == ["create", "update", "close", "disable"]
    assert history[1]["changes"] == {"age": {"old": None, "new": 5}}
    assert history[1]["user"] == "amina"


def test_edit_disabled_record_conflicts(api: Client) -> None:
    record = create(api)
    url = f"{BASE}{record['id']}"
    api.post(f"{url}/disable", HTTP_IF_MATCH='"1"')
    response = api.patch(url, {"data": {"age": 5}}, "application/json", HTTP_IF_MATCH='"2"')
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "record_disabled"


def test_configuration_endpoints(api: Client) -> None:
    types = api.get("/api/v1/configuration/record-types").json()
    assert {t["unique_id"] for t in types} == {"case", "incident"}
    case = api.get("/api/v1/configuration/record-types/case").json()
    assert case["form_sections"][0]["unique_id"] == "basic_identity"
    lookups = api.get("/api/v1/configuration/lookups").json()
    assert "lookup-sex" in {lookup["unique_id"] for lookup in lookups}
    top = api.get("/api/v1/configuration/locations").json()
    assert [loc["code"] for loc in top] == ["UT"]
    regions = api.get("/api/v1/configuration/locations?parent=UT").json()
    assert [loc["code"] for loc in regions] == ["UT01", "UT02"]


def test_schema_and_docs_served(api: Client) -> None:
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/records/{record_type}/{record_id}" in schema.json()["paths"]
    docs = api.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_session_auth_needs_csrf(caseworker: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(caseworker)
    assert client.get(BASE).status_code == 200
    response = client.post(BASE, {"data": {"name_first": "A"}}, "application/json")
    assert response.status_code == 403


def test_views_and_searches_audited(api: Client) -> None:
    from tutela.audit.models import AuditEntry

    record = create(api, name_last="Haddad")
    api.get(f"{BASE}{record['id']}")
    api.post(f"{BASE}search", {"text": "haddad", "filters": {"sex": "female"}}, "application/json")
    view = AuditEntry.objects.get(action="case.view")
    assert view.object_id == record["id"]
    search = AuditEntry.objects.get(action="case.search")
    assert search.details["filters"] == ["sex"]
    assert search.details["text"] is True
    assert "haddad" not in str(search.details).lower()


def test_records_outside_scope_hidden(api: Client) -> None:
    from tutela.access.models import Agency
    from tutela.records.actions import create_record

    other_agency = Agency.objects.create(unique_id="agency-two", name={"en": "Two"})
    outsider = User.objects.create_user("omar", password="x" * 12, agency=other_agency)
    hidden = create_record("case", {"name_first": "Hidden", "name_last": "Child"}, outsider)
    visible = create(api)

    listed = api.get(BASE).json()["results"]
    assert [r["id"] for r in listed] == [visible["id"]]
    assert api.get(f"{BASE}{hidden.pk}").status_code == 404
    found = api.post(f"{BASE}search", {"text": "hidden"}, "application/json").json()
    assert found["results"] == []
    by_name = api.post(f"{BASE}search", {"name": "Hidden Child"}, "application/json").json()
    assert by_name["results"] == []
    by_id = api.post(f"{BASE}search", {"text": hidden.short_id}, "application/json").json()
    assert by_id["results"] == []
    assert api.get(f"{BASE}{hidden.pk}/history").status_code == 404


def test_api_refused_until_password_changed(caseworker: User) -> None:
    caseworker.must_change_password = True
    caseworker.save()
    client = Client()
    client.force_login(caseworker)
    response = client.get(BASE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "password_change_required"


def test_create_gives_location(api: Client) -> None:
    response = api.post(BASE, {"data": {"name_first": "Amal"}}, "application/json")
    assert response["Location"] == f"{BASE}{response.json()['id']}"


def test_unknown_api_address_is_json(api: Client) -> None:
    response = api.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_foreign_attachment_id_rejected(api: Client) -> None:
    record = create(api)
    response = api.patch(
        f"{BASE}{record['id']}",
        {"data": {"photo": ["0b7c7d38-3c7e-4d35-a0c6-0c0f6d0e3c11", "not-an-id"]}},
        "application/json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert [d["path"] for d in details] == ["photo", "photo"]
    created = api.post(
        BASE, {"data": {"name_first": "A", "photo": [record["id"]]}}, "application/json"
    )
    assert created.status_code == 400
