"""The audit log: written by the actions, append-only, and its hash chain verified."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from tutela.audit.log import GENESIS_HASH, chain_head, record_event, verify_chain
from tutela.audit.models import AuditEntry, Outcome
from tutela.records import actions
from tutela.records.models import Status


def test_record_actions_audited(sample_config: None, caseworker: Any) -> None:
    record = actions.create_record("case", {"name_first": "Amal", "sex": "female"}, caseworker)
    actions.update_record(record.pk, {"age": 4}, caseworker, base_version=1)
    actions.set_status(record.pk, Status.CLOSED, caseworker, base_version=2)
    entries = list(AuditEntry.objects.filter(object_id=str(record.pk)))
    assert [e.action for e in entries] == ["case.create", "case.update", "case.close"]
    assert entries[0].details == {"fields": ["name_first", "sex"]}
    assert entries[1].details == {"fields": ["age"], "version": 2}
    assert {e.actor for e in entries} == {"amina"}


def test_audit_holds_no_values(sample_config: None, caseworker: Any) -> None:
    actions.create_record("case", {"name_first": "Zainabou", "name_last": "Kante"}, caseworker)
    text = str(list(AuditEntry.objects.values()))
    assert "Zainabou" not in text
    assert "Kante" not in text


def test_failed_save_leaves_no_entry(sample_config: None, caseworker: Any) -> None:
    from tutela.records.validation import RecordInvalid

    with pytest.raises(RecordInvalid):
        actions.create_record("case", {"name_first": "A", "sex": "x"}, caseworker)
    assert AuditEntry.objects.count() == 0


def test_sign_in_success_and_failure(caseworker: Any) -> None:
    client = Client(HTTP_USER_AGENT="test-agent/1.0")
    assert not client.login(username="amina", password="wrong password here")
    assert client.login(username="amina", password="correct horse battery")
    failure, success = AuditEntry.objects.order_by("id")
    assert failure.outcome == Outcome.FAILURE
    assert failure.details == {"reason": "invalid_credentials"}
    assert failure.actor == "amina"
    assert success.action == "auth.sign_in"
    assert success.outcome == Outcome.SUCCESS
    assert success.actor_id == caseworker.pk


def test_chain_links_entries(db: None) -> None:
    first = record_event("system.test", object_type="x", object_id=1)
    second = record_event("system.test", object_type="x", object_id=2)
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.hash
    assert chain_head() == second.hash
    assert verify_chain().first_broken is None


def test_update_rejected_by_trigger(db: None) -> None:
    entry = record_event("system.test")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="system.other")


def test_delete_rejected_by_trigger(db: None) -> None:
    entry = record_event("system.test")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_delete_allowed_for_retention(db: None) -> None:
    entry = record_event("system.test")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL tutela.audit_retention = 'on'")
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.count() == 0


def alter_with_trigger_disabled(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_append_only")


def test_verify_names_altered_row(db: None) -> None:
    entries = [record_event("system.test", object_id=i) for i in range(5)]
    alter_with_trigger_disabled(
        "UPDATE audit_auditentry SET object_id = 'forged' WHERE id = %s", [entries[2].id]
    )
    result = verify_chain()
    assert result.first_broken is not None
    assert result.first_broken.id == entries[2].id
    assert result.checked == 2
    with pytest.raises(CommandError) as error:
        call_command("audit", "verify")
    assert f"#{entries[2].id}" in str(error.value)
    assert "altered" in str(error.value)


def test_verify_names_row_after_removed_one(db: None) -> None:
    entries = [record_event("system.test", object_id=i) for i in range(4)]
    alter_with_trigger_disabled("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].id])
    result = verify_chain()
    assert result.first_broken is not None
    assert result.first_broken.id == entries[2].id
    assert "removed" in result.reason


def test_verify_command_intact(db: None) -> None:
    record_event("system.test")
    output = StringIO()
    call_command("audit", "verify", stdout=output)
    assert "1 entries verified" in output.getvalue()


def test_export_json_lines(db: None, tmp_path: Path) -> None:
    for i in range(3):
        record_event("system.test", object_id=i)
    target = tmp_path / "audit.jsonl"
    call_command(
        "audit", "export", "--from", "2000-01-01", "--output", str(target), stderr=StringIO()
    )
    lines = target.read_text().splitlines()
    assert len(lines) == 3
    assert '"object_id": "2"' in lines[2]
    with pytest.raises(CommandError, match="not a date"):
        call_command("audit", "export", "--from", "yesterday")
    future = tmp_path / "none.jsonl"
    call_command(
        "audit", "export", "--from", "2999-01-01", "--output", str(future), stderr=StringIO()
    )
    assert future.read_text() == ""


def test_nul_characters_replaced(db: None) -> None:
    entry = record_event("system.test", object_id="a\x00b", details={"k\x00": ["v\x00"]})
    entry.refresh_from_db()
    assert entry.object_id == "a\ufffdb"
    assert entry.details == {"k\ufffd": ["v\ufffd"]}
    assert verify_chain().first_broken is None


def test_export_command_audited(db: None, tmp_path: Path) -> None:
    record_event("system.test")
    target = tmp_path / "audit.jsonl"
    call_command("audit", "export", "--output", str(target), stderr=StringIO())
    assert len(target.read_text().splitlines()) == 1
    export = AuditEntry.objects.get(action="audit.export")
    assert export.actor.startswith("cli:")
    assert export.details["via"] == "cli"


def test_config_command_audited(db: None) -> None:
    call_command("config", "load-default", stdout=StringIO())
    entry = AuditEntry.objects.get(action="configuration.load")
    assert entry.object_id == "load_default"
    assert entry.actor.startswith("cli:")


def test_token_commands_audited(caseworker: Any) -> None:
    output = StringIO()
    call_command("token", "create", "amina", "--name", "sync", stdout=output, stderr=StringIO())
    token_text = output.getvalue().strip()
    created = AuditEntry.objects.get(action="token.create")
    assert created.details == {"via": "cli", "user": caseworker.pk}
    assert token_text not in str(list(AuditEntry.objects.values()))
    call_command("token", "revoke", created.object_id, stdout=StringIO())
    revoked = AuditEntry.objects.get(action="token.revoke")
    assert revoked.object_id == created.object_id
