"""The retention job: purge or anonymise closed records, and delete old audit entries.

1. For each rule of the configuration's `retention` section, find the records of its type
   that were closed and left unchanged for `closed_years` years.
2. Purge or anonymise each one in its own transaction, with an audit entry naming the record
   id. Purging deletes the record, its history and its files. Anonymising blanks every field
   but those the rule keeps, blanks the values in its history and deletes its files.
3. Delete the audit entries older than `audit_log_years` through the database function
   `audit_delete_before`, then audit that deletion; the chain stays verifiable.

Without `execute` nothing changes: the report says what would be done.
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from tutela.attachments.models import Attachment
from tutela.audit.log import record_event
from tutela.audit.models import AuditChainStart, AuditEntry, Outcome
from tutela.audit.retention_rules import RecordRule, audit_log_years, dump_retention, record_rules
from tutela.configuration.forms import get_form
from tutela.configuration.models import ATTACHMENT_TYPES
from tutela.records.derived import refresh, store_search_vector
from tutela.records.models import Record, RecordHistory, Status

logger = logging.getLogger(__name__)

# The audit entries of the job name this actor.
ACTOR = "retention"
# An anonymised record keeps this workflow stage, so later runs leave it alone.
ANONYMISED = "anonymised"
# pg_try_advisory_lock key: one retention job at a time.
RETENTION_LOCK = 7_410_003


class RetentionBusy(Exception):
    """Another retention job holds the lock."""


@dataclass
class RuleResult:
    rule: RecordRule
    record_ids: list[str] = field(default_factory=list)
    # Records whose purge or anonymisation failed; each is logged and left unchanged.
    failed_ids: list[str] = field(default_factory=list)


@dataclass
class RetentionReport:
    executed: bool
    rules: list[RuleResult] = field(default_factory=list)
    # Audit entries deleted, or older than the audit retention period in a dry run.
    audit_entries: int = 0
    audit_cutoff: dt.datetime | None = None


def years_before(moment: dt.datetime, years: int) -> dt.datetime:
    """Return `moment` moved back `years` calendar years; 29 February becomes 28 February."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def due_records(rule: RecordRule, now: dt.datetime) -> QuerySet[Record]:
    """Return the records of `rule`'s type closed and unchanged for `closed_years` years.

    NOTE: the time of the last change is used as the closing date, because a closed record is
    rarely changed. A change after closing restarts the period, so the record is kept longer.
    """
    cutoff = years_before(now, rule.closed_years)
    return (
        Record.objects.filter(
            record_type__unique_id=rule.record_type, status=Status.CLOSED, updated_at__lt=cutoff
        )
        .exclude(workflow_stage=ANONYMISED)
        .order_by("updated_at", "id")
    )


def delete_files(attachments: list[Attachment]) -> int:
    """Delete the attachments' rows now and their files once the transaction commits."""
    from tutela.attachments.actions import storage

    names = [name for a in attachments for name in (a.storage_name, a.thumbnail_name) if name]
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()

    def remove() -> None:
        store = storage()
        for name in names:
            try:
                store.delete(name)
            except OSError:
                # The rows are gone; `tutela backup` reports files that no row refers to.
                logger.exception("Could not delete the attachment file %s", name)

    transaction.on_commit(remove)
    return len(attachments)


def purge_record(record_id: Any, rule: RecordRule) -> None:
    """Delete one record with its history, files and every row that refers to it."""
    with transaction.atomic():
        record = Record.objects.select_for_update().get(pk=record_id)
        history_rows = RecordHistory.objects.filter(record=record).count()
        files = delete_files(list(Attachment.objects.filter(record=record)))
        record.delete()
        record_event(
            "retention.purge",
            actor_name=ACTOR,
            object_type=rule.record_type,
            object_id=record_id,
            details={
                "closed_years": rule.closed_years,
                "history_rows": history_rows,
                "attachments": files,
            },
        )


def blank_change(name: str, change: Any, keep: set[str]) -> Any:
    """Return a history change without its values, unless the field is kept.

    Record-level columns ("$status", "$owner") hold no personal data and stay.
    """
    if name.startswith("$") or name in keep:
        return change
    return {"old": None, "new": None}


def anonymise_record(record_id: Any, rule: RecordRule) -> None:
    """Blank every field but the kept ones, in the record and its history; delete its files."""
    form = get_form(rule.record_type)
    attachment_fields = {
        name
        for name, f in {**form.fields, **form.archived_fields}.items()
        if f.type in ATTACHMENT_TYPES
    }
    keep = set(rule.keep) - attachment_fields
    with transaction.atomic():
        record = Record.objects.select_for_update().get(pk=record_id)
        removed = sorted(name for name in record.data if name not in keep)
        record.data = {name: value for name, value in record.data.items() if name in keep}
        record.workflow_stage = ANONYMISED
        record.version += 1
        record.updated_at = timezone.now()
        # The name, search and duplicate-matching columns, recomputed from the blanked data.
        refresh(record, form)
        record.save()
        store_search_vector(record, form)

        history = list(RecordHistory.objects.filter(record=record))
        changes_field = RecordHistory._meta.get_field("changes")
        for row in history:
            row.changes = {
                name: blank_change(name, change, keep) for name, change in row.changes.items()
            }
            # bulk_update skips the field's pre_save, which encrypts kept sensitive values.
            row.record = record
            row.changes = changes_field.pre_save(row, False)
        RecordHistory.objects.bulk_update(history, ["changes"], batch_size=500)
        RecordHistory.objects.create(
            record=record,
            version=record.version,
            action="anonymise",
            user=None,
            at=record.updated_at,
            changes={name: {"old": None, "new": None} for name in removed},
        )
        files = delete_files(list(Attachment.objects.filter(record=record)))
        record_event(
            "retention.anonymise",
            actor_name=ACTOR,
            object_type=rule.record_type,
            object_id=record_id,
            details={
                "closed_years": rule.closed_years,
                "fields_blanked": removed,
                "history_rows": len(history),
                "attachments": files,
            },
        )


def purge_audit_log(years: int, now: dt.datetime, execute: bool) -> tuple[int, dt.datetime]:
    """Delete (or count, without `execute`) the audit entries older than `years` years."""
    cutoff = years_before(now, years)
    if not execute:
        return AuditEntry.objects.filter(at__lt=cutoff).count(), cutoff
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT audit_delete_before(%s)", [cutoff])
            row = cursor.fetchone()
        deleted = int(row[0]) if row else 0
        if deleted:
            start = AuditChainStart.objects.order_by("-id").first()
            record_event(
                "audit.retention",
                actor_name=ACTOR,
                object_type="audit_log",
                details={
                    "deleted": deleted,
                    "before": cutoff.isoformat(),
                    "first_kept_id": start.first_kept_id if start else None,
                    "first_kept_previous_hash": start.previous_hash if start else None,
                },
            )
    return deleted, cutoff


def apply_rule(record_id: str, rule: RecordRule) -> bool:
    """Purge or anonymise one record; on failure, log and audit it and return False.

    One record that cannot be changed (a row lock held too long, a file store error) must
    not stop the others; its transaction is rolled back, so it stays as it was.
    """
    apply = purge_record if rule.action == "purge" else anonymise_record
    try:
        apply(record_id, rule)
    except Exception as error:
        logger.exception(
            "Retention could not %s %s record %s", rule.action, rule.record_type, record_id
        )
        record_event(
            f"retention.{rule.action}",
            actor_name=ACTOR,
            object_type=rule.record_type,
            object_id=record_id,
            outcome=Outcome.FAILURE,
            details={"error": type(error).__name__},
        )
        return False
    return True


def run_retention(
    *,
    execute: bool,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] = lambda text: None,
) -> RetentionReport:
    """Apply the retention policy in force; without `execute`, only report what is due."""
    now = now or timezone.now()
    policy = dump_retention() or {}
    report = RetentionReport(executed=execute)
    with retention_lock():
        for rule in record_rules(policy):
            result = RuleResult(
                rule, [str(pk) for pk in due_records(rule, now).values_list("pk", flat=True)]
            )
            report.rules.append(result)
            if not execute:
                continue
            for record_id in result.record_ids:
                if not apply_rule(record_id, rule):
                    result.failed_ids.append(record_id)
            progress(f"{rule.record_type}: {rule.action} done for {len(result.record_ids)} records")
        years = audit_log_years(policy)
        if years is not None:
            report.audit_entries, report.audit_cutoff = purge_audit_log(years, now, execute)
    return report


@contextmanager
def retention_lock() -> Iterator[None]:
    """Hold a session advisory lock, so that two retention jobs never run at once."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RETENTION_LOCK])
        row = cursor.fetchone()
    if not row or not row[0]:
        raise RetentionBusy("Another retention job is running; try again when it ends.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RETENTION_LOCK])
