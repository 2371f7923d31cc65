"""Facts a backup records about the database, read the same way at backup and after restore."""

from typing import Any

import psycopg

from tutela.access.models import User
from tutela.attachments.models import Attachment
from tutela.audit.log import GENESIS_HASH
from tutela.audit.models import AuditEntry
from tutela.configuration.models import RecordType
from tutela.records.models import Record, RecordHistory


def table(model: Any) -> str:
    return str(model._meta.db_table)


def record_counts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Counts per record type and of the tables that a restore must bring back whole."""
    by_type = conn.execute(
        f"SELECT rt.unique_id, count(*) FROM {table(Record)} r "  # noqa: S608
        f"JOIN {table(RecordType)} rt ON rt.id = r.record_type_id GROUP BY rt.unique_id "
        "ORDER BY rt.unique_id"
    ).fetchall()
    counts: dict[str, Any] = {"records": {str(name): int(n) for name, n in by_type}}
    for key, model in (
        ("record_history", RecordHistory),
        ("audit_entries", AuditEntry),
        ("users", User),
    ):
        row = conn.execute(f"SELECT count(*) FROM {table(model)}").fetchone()  # noqa: S608
        counts[key] = int(row[0]) if row else 0
    return counts


def referenced_documents(conn: psycopg.Connection[Any]) -> set[str]:
    """Return the storage names of every file that an attachment row refers to."""
    exists = conn.execute("SELECT to_regclass(%s)", [table(Attachment)]).fetchone()
    if not exists or exists[0] is None:
        return set()  # a database from before attachments, not migrated yet
    rows = conn.execute(
        f"SELECT storage_name, thumbnail_name FROM {table(Attachment)}"  # noqa: S608
    ).fetchall()
    return {name for row in rows for name in row if name}


def audit_chain_head(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        f"SELECT hash FROM {table(AuditEntry)} ORDER BY id DESC LIMIT 1"  # noqa: S608
    ).fetchone()
    return str(row[0]) if row else GENESIS_HASH


def applied_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY app, name").fetchall()
    return [f"{app}.{name}" for app, name in rows]


def server_version(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
    ).fetchone()
    assert row is not None  # noqa: S101
    return str(row[0]), int(row[1]) // 10000
