"""Retention: closed records purged or anonymised by rule, and old audit entries deleted."""

import datetime as dt
import io
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from PIL import Image

from tests.sample_configuration import sample
from tutela.attachments.actions import add_attachment, storage
from tutela.attachments.models import Attachment
from tutela.audit import log
from tutela.audit.log import record_event, verify_chain
from tutela.audit.models import AuditChainStart, AuditEntry
from tutela.audit.retention import ANONYMISED, run_retention, years_before
from tutela.configuration import schema
from tutela.configuration.forms import get_form
from tutela.configuration.loading import dump_configuration, load_configuration
from tutela.records import actions
from tutela.records.models import Record, RecordHistory, Status

LONG_AGO = timezone.now() - dt.timedelta(days=365 * 12)


def policy(action: str, **rule: Any) -> dict[str, Any]:
    return {"records": [{"record_type": "case", "closed_years": 10, "action": action, **rule}]}


def load_policy(section: dict[str, Any]) -> None:
    document = sample()
    document["retention"] = section
    load_configuration(document)


def closed_case(user: Any, data: dict[str, Any], closed_at: dt.datetime = LONG_AGO) -> Record:
    """Create a case, change it once, close it, and move its last change to `closed_at`."""
    record = actions.create_record("case", data, user)
    actions.update_record(record.pk, {"age": 9}, user, base_version=1)
    actions.set_status(record.pk, Status.CLOSED, user, base_version=2)
    Record.objects.filter(pk=record.pk).update(updated_at=closed_at)
    return Record.objects.get(pk=record.pk)


def photo(record: Record, user: Any) -> Attachment:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "JPEG")
    upload = SimpleUploadedFile("face.jpg", out.getvalue(), content_type="image/jpeg")
    return add_attachment(record.pk, get_form("case").fields["photo"], "photo", upload, user)


def test_years_before_leap_day() -> None:
    moment = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert years_before(moment, 1) == dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)


def test_policy_round_trips_through_dump(sample_config: None) -> None:
    load_policy({"audit_log_years": 7, **policy("anonymise", keep=["sex"])})
    assert dump_configuration()["retention"]["audit_log_years"] == 7
    assert dump_configuration()["retention"]["records"][0]["keep"] == ["sex"]


@pytest.mark.parametrize(
    ("section", "path"),
    [
        (
            {"records": [{"record_type": "pet", "closed_years": 5, "action": "purge"}]},
            "retention.records[0].record_type",
        ),
        (
            {"records": [{"record_type": "case", "closed_years": 0, "action": "purge"}]},
            "retention.records[0].closed_years",
        ),
        (
            {"records": [{"record_type": "case", "closed_years": 5, "action": "shred"}]},
            "retention.records[0].action",
        ),
        (
            {
                "records": [
                    {"record_type": "case", "closed_years": 5, "action": "purge", "keep": ["sex"]}
                ]
            },
            "retention.records[0].keep",
        ),
        ({"audit_log_years": "seven"}, "retention.audit_log_years"),
        ({"records": [], "months": 3}, "retention.months"),
    ],
    ids=["record-type", "years", "action", "keep-on-purge", "audit-years", "unknown-key"],
)
def test_schema_rejects_bad_rule(section: dict[str, Any], path: str) -> None:
    document = sample()
    document["retention"] = section
    problems = schema.check_document(document)
    assert [problem.path for problem in problems] == [path]


def test_dry_run_changes_nothing(sample_config: None, caseworker: Any) -> None:
    load_policy(policy("purge"))
    due = closed_case(caseworker, {"name_first": "Amal"})
    recent = closed_case(caseworker, {"name_first": "Badr"}, timezone.now())
    entries = AuditEntry.objects.count()
    report = run_retention(execute=False)
    assert report.rules[0].record_ids == [str(due.pk)]
    assert Record.objects.filter(pk__in=[due.pk, recent.pk]).count() == 2
    assert AuditEntry.objects.count() == entries


def test_purge_deletes_record_history_files(
    sample_config: None, caseworker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    load_policy(policy("purge"))
    due = closed_case(caseworker, {"name_first": "Amal"})
    attachment = photo(due, caseworker)
    open_case = actions.create_record("case", {"name_first": "Chadi"}, caseworker)
    with django_capture_on_commit_callbacks(execute=True):
        run_retention(execute=True)
    assert not Record.objects.filter(pk=due.pk).exists()
    assert not RecordHistory.objects.filter(record_id=due.pk).exists()
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not storage().exists(attachment.storage_name)
    assert Record.objects.filter(pk=open_case.pk).exists()
    entry = AuditEntry.objects.get(action="retention.purge")
    assert entry.object_id == str(due.pk)
    assert entry.actor == "retention"
    assert entry.details["attachments"] == 1
    assert verify_chain().first_broken is None


def test_anonymise_blanks_record_and_history(
    sample_config: None, caseworker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    load_policy(policy("anonymise", keep=["sex", "age"]))
    due = closed_case(caseworker, {"name_first": "Zainabou", "name_last": "Kante", "sex": "female"})
    photo(due, caseworker)
    with django_capture_on_commit_callbacks(execute=True):
        run_retention(execute=True)
    record = Record.objects.get(pk=due.pk)
    assert record.data == {"sex": "female", "age": 9}
    assert record.display_name == ""
    assert record.workflow_stage == ANONYMISED
    assert not Attachment.objects.filter(record=record).exists()
    history = str(list(RecordHistory.objects.filter(record=record).values("changes")))
    assert "Zainabou" not in history
    assert "Kante" not in history
    assert "female" in history
    entry = AuditEntry.objects.get(action="retention.anonymise")
    assert entry.object_id == str(due.pk)
    assert "name_first" in entry.details["fields_blanked"]


def test_anonymised_record_not_due_again(sample_config: None, caseworker: Any) -> None:
    load_policy(policy("anonymise"))
    due = closed_case(caseworker, {"name_first": "Amal"})
    run_retention(execute=True)
    Record.objects.filter(pk=due.pk).update(updated_at=LONG_AGO)
    assert run_retention(execute=False).rules[0].record_ids == []


def test_audit_retention_keeps_chain_verifiable(
    sample_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_policy({"audit_log_years": 2, "records": []})
    monkeypatch.setattr(log.timezone, "now", lambda: LONG_AGO)
    old = [record_event("system.test", object_id=i) for i in range(3)]
    monkeypatch.undo()
    kept = [record_event("system.test", object_id=i) for i in range(2)]

    dry = run_retention(execute=False)
    assert dry.audit_entries >= 3
    assert AuditEntry.objects.filter(pk=old[0].pk).exists()

    report = run_retention(execute=True)
    assert report.audit_entries >= 3
    assert not AuditEntry.objects.filter(pk__in=[e.pk for e in old]).exists()
    start = AuditChainStart.objects.get()
    assert start.previous_hash == kept[0].previous_hash
    assert AuditEntry.objects.filter(action="audit.retention").exists()
    assert verify_chain().first_broken is None
    output = StringIO()
    call_command("audit", "verify", stdout=output)
    assert "intact" in output.getvalue()


def test_verify_after_retention_finds_removed_entry(
    sample_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_policy({"audit_log_years": 2, "records": []})
    monkeypatch.setattr(log.timezone, "now", lambda: LONG_AGO)
    record_event("system.test")
    monkeypatch.undo()
    kept = [record_event("system.test", object_id=i) for i in range(3)]
    run_retention(execute=True)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_append_only")
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [kept[0].id])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_append_only")
    result = verify_chain()
    assert result.first_broken is not None
    assert result.first_broken.id == kept[1].id


def test_delete_function_keeps_newest_entry(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log.timezone, "now", lambda: LONG_AGO)
    entries = [record_event("system.test", object_id=i) for i in range(2)]
    monkeypatch.undo()
    with connection.cursor() as cursor:
        cursor.execute("SELECT audit_delete_before(now())")
    assert list(AuditEntry.objects.values_list("id", flat=True)) == [entries[1].id]
    assert verify_chain().first_broken is None


def test_command_dry_run_and_execute(sample_config: None, caseworker: Any) -> None:
    load_policy(policy("purge"))
    due = closed_case(caseworker, {"name_first": "Amal"})
    output = StringIO()
    call_command("retention", "run", "--list", stdout=output, stderr=StringIO())
    assert "1 records closed for 10 years or more would be purged" in output.getvalue()
    assert str(due.pk) in output.getvalue()
    assert "Dry run" in output.getvalue()
    assert Record.objects.filter(pk=due.pk).exists()
    call_command("retention", "run", "--execute", stdout=StringIO(), stderr=StringIO())
    assert not Record.objects.filter(pk=due.pk).exists()


def test_install_schedule_writes_units(db: None, tmp_path: Path) -> None:
    call_command(
        "retention",
        "install-schedule",
        "--output",
        str(tmp_path),
        "--time",
        "04:15",
        stdout=StringIO(),
    )
    service = (tmp_path / "tutela-retention.service").read_text()
    assert "retention run --execute" in service
    assert "OnCalendar=*-*-* 04:15:00" in (tmp_path / "tutela-retention.timer").read_text()
    assert (tmp_path / "tutela-retention.cron").read_text().startswith("# Tutela retention")


def test_failed_record_left_and_audited(
    sample_config: None, caseworker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutela.audit import retention
    from tutela.audit.models import Outcome

    load_policy(policy("purge"))
    first = closed_case(caseworker, {"name_first": "Amal"})
    second = closed_case(caseworker, {"name_first": "Badr"})
    real_purge = retention.purge_record

    def purge_all_but_first(record_id: Any, rule: Any) -> None:
        if record_id == str(first.pk):
            raise OSError("disk full")
        real_purge(record_id, rule)

    monkeypatch.setattr(retention, "purge_record", purge_all_but_first)
    report = run_retention(execute=True)
    assert report.rules[0].failed_ids == [str(first.pk)]
    assert Record.objects.filter(pk=first.pk).exists()
    assert not Record.objects.filter(pk=second.pk).exists()
    failure = AuditEntry.objects.get(outcome=Outcome.FAILURE)
    assert failure.object_id == str(first.pk)
    assert failure.details == {"error": "OSError"}
