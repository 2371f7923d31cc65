"""The audit screens: the searchable audit log, its export, and a record's access log."""

import json
from typing import Any

import pytest
from django.test import Client

from tests.conftest import signed_in_client
from tutela.access.models import User
from tutela.audit.log import record_event
from tutela.audit.models import AuditEntry, Outcome
from tutela.records import actions


@pytest.fixture
def auditor(db: None) -> User:
    """Ines, a superuser (so staff too), who may open every record and the audit log."""
    return User.objects.create_superuser("ines", email="", password="correct horse battery")


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_caseworker_denied_and_audited(caseworker: User) -> None:
    response = client_of(caseworker).get("/audit/")
    assert response.status_code == 403
    denied = AuditEntry.objects.get(action="audit.read")
    assert denied.outcome == Outcome.DENIED
    assert denied.actor == "amina"


def test_audit_log_lists_and_audits_search(auditor: User) -> None:
    record_event("system.test", object_type="x", object_id="one", details={"fields": ["age"]})
    response = client_of(auditor).get("/audit/", {"action": "system.test"})
    assert response.status_code == 200
    assert "<code>system.test</code>" in response.text
    assert "{&quot;fields&quot;: [&quot;age&quot;]}" in response.text
    search = AuditEntry.objects.get(action="audit.search")
    assert search.details == {"filters": {"action": "system.test"}}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "amina"}, {"amina-entry"}),
        ({"action": "case.*"}, {"amina-entry", "failed-entry"}),
        ({"object_type": "case", "object_id": "failed-entry"}, {"failed-entry"}),
        ({"outcome": "failure"}, {"failed-entry"}),
        ({"start": "2000-01-01", "end": "2999-12-31", "action": "case.view"}, {"amina-entry"}),
        ({"end": "2000-01-01"}, set()),
    ],
    ids=["actor", "action-prefix", "object", "outcome", "time-range", "before-everything"],
)
def test_audit_log_filters(
    auditor: User, caseworker: User, query: dict[str, str], expected: set[str]
) -> None:
    record_event("case.view", user=caseworker, object_type="case", object_id="amina-entry")
    record_event(
        "case.update", object_type="case", object_id="failed-entry", outcome=Outcome.FAILURE
    )
    record_event("system.test", object_type="system", object_id="other-entry")
    response = client_of(auditor).get("/audit/", query)
    page = response.context["page"]
    assert {entry.object_id for entry in page.entries} - {""} == expected


def test_invalid_filter_shows_error(auditor: User) -> None:
    response = client_of(auditor).get("/audit/", {"start": "yesterday", "outcome": "maybe"})
    assert response.status_code == 400
    assert "yesterday is not a date" in response.text
    assert "maybe is not one of" in response.text
    assert response.context["page"] is None
    assert not AuditEntry.objects.filter(action="audit.search").exists()


def test_keyset_paging(auditor: User) -> None:
    entries = [record_event("system.test", object_id=i) for i in range(60)]
    client = client_of(auditor)
    first = client.get("/audit/", {"action": "system.test"}).context["page"]
    assert len(first.entries) == 50
    assert first.entries[0].id == entries[-1].id
    assert first.older == first.entries[-1].id
    second = client.get("/audit/", {"action": "system.test", "before": first.older})
    rest = second.context["page"]
    assert [e.id for e in rest.entries] == [e.id for e in reversed(entries[:10])]
    assert rest.older is None
    assert AuditEntry.objects.filter(action="audit.search").count() == 1


def test_export_writes_filtered_lines_and_audits(auditor: User) -> None:
    for i in range(3):
        record_event("system.test", object_type="x", object_id=i)
    record_event("system.other", object_type="x", object_id="skip")
    response = client_of(auditor).post("/audit/export", {"action": "system.test"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [line["object_id"] for line in lines] == ["0", "1", "2"]
    assert all(len(line["hash"]) == 64 for line in lines)
    export = AuditEntry.objects.get(action="audit.export")
    assert export.details == {"filters": {"action": "system.test"}}


def test_export_denied_for_caseworker(caseworker: User) -> None:
    response = client_of(caseworker).post("/audit/export", {})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="audit.export").exists()


def test_record_access_log(sample_config: None, auditor: User, caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    other = actions.create_record("case", {"name_first": "Badr"}, caseworker)
    client_of(caseworker).get(f"/cases/{record.pk}/")
    record_event(
        "attachment.download",
        user=caseworker,
        object_type="attachment",
        object_id="a1",
        details={"record": str(record.pk)},
    )

    client = client_of(auditor)
    page = client.get(f"/cases/{record.pk}/")
    assert f"/cases/{record.pk}/access-log" in page.text

    response = client.get(f"/cases/{record.pk}/access-log")
    assert response.status_code == 200
    actions_seen = [entry.action for entry in response.context["page"].entries]
    # Newest first: this very reading of the access log, then the auditor's and Amina's views.
    assert actions_seen[:4] == [
        "case.access_log_view",
        "case.view",
        "attachment.download",
        "case.view",
    ]
    assert "case.create" in actions_seen
    assert all(
        entry.object_id in (str(record.pk), "a1") for entry in response.context["page"].entries
    )
    assert AuditEntry.objects.filter(
        action="case.access_log_view", object_id=str(record.pk)
    ).exists()
    assert str(other.pk) not in response.text


def test_record_access_log_denied(sample_config: None, caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    client = client_of(caseworker)
    assert f"/cases/{record.pk}/access-log" not in client.get(f"/cases/{record.pk}/").text
    assert client.get(f"/cases/{record.pk}/access-log").status_code == 403


def test_filtered_list_audited_as_search(sample_config: None, caseworker: User) -> None:
    client_of(caseworker).get("/cases/", {"f_sex": "female"})
    search = AuditEntry.objects.get(action="case.search")
    assert search.details["filters"] == ["sex"]
    assert search.details["text"] is False
    client_of(caseworker).get("/cases/")
    assert AuditEntry.objects.filter(action="case.search").count() == 1


def test_auditor_role_reads_log(roles: dict[str, Any], agency: Any) -> None:
    reader = User.objects.create_user(
        "otto", password="correct horse battery", agency=agency, role=roles["auditor"]
    )
    assert not reader.is_staff
    assert signed_in_client(reader).get("/audit/").status_code == 200


def test_auditor_reads_access_log_without_record(
    sample_config: None, roles: dict[str, Any], agency: Any, caseworker: User
) -> None:
    record = actions.create_record("case", {"name_first": "Zainabou"}, caseworker)
    reader = User.objects.create_user(
        "otto", password="correct horse battery", agency=agency, role=roles["auditor"]
    )
    client = signed_in_client(reader)
    assert client.get(f"/cases/{record.pk}/").status_code == 404
    response = client.get(f"/cases/{record.pk}/access-log")
    assert response.status_code == 200
    assert "case.create" in response.text
    assert "Zainabou" not in response.text


def test_access_log_out_of_scope_is_404(sample_config: None, caseworker: User) -> None:
    other = User.objects.create_superuser("root", email="", password="correct horse battery")
    record = actions.create_record("case", {"name_first": "Amal"}, other)
    assert client_of(caseworker).get(f"/cases/{record.pk}/access-log").status_code == 404
