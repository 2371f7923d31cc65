"""`tutela restore` and `tutela backup verify`: check a backup, then bring it back.

Restore steps:
1. check the backup before touching anything: its manifest, the size and SHA-256 of every
   file, the Tutela version that made it, and that the identity opens its document index;
2. check the target: an empty database and document folder, the remains of an interrupted
   restore (marked incomplete), or anything with --force;
3. mark the target incomplete (a schema in the database, a file in the document folder) and
   empty it;
4. decrypt the documents into the folder, checking each one's SHA-256;
5. decrypt the dump into pg_restore, in one transaction, while step 4 runs;
6. compare the record counts and the audit chain head with the manifest, recompute the chain,
   migrate forward, and append the audit entry that records the restore;
7. remove the marks: only now is the target a complete restore.

Verify does steps 1, 4 (into nothing) and 5-6 (into a scratch database it then drops).
"""

import datetime as dt
import getpass
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from django.db.migrations.loader import MigrationLoader

import tutela
from tutela.ops import crypto, facts, pgtools, status
from tutela.ops.backup import Progress, backup_root, last_line
from tutela.ops.documents import DocumentStore, LocalDocumentStore, site_document_store
from tutela.ops.files import HashingWriter, atomic_write_json, end_with_parent
from tutela.ops.manifest import VERIFIED, BackupFolder, backup_folder, check_files
from tutela.ops.target import TargetStepFailed, run_step

logger = logging.getLogger(__name__)


class RestoreRefused(Exception):
    """The backup or the target failed a check; nothing was changed."""


class RestoreFailed(Exception):
    """The restore stopped part way; the target stays marked incomplete."""


@dataclass
class Target:
    server: pgtools.Server
    database: str
    documents: DocumentStore
    documents_root: Path | None = None


def site_target() -> Target:
    return Target(pgtools.site_server(), pgtools.site_database(), site_document_store())


def target_for(database: str | None, documents: Path | None) -> Target:
    site = site_target()
    return Target(
        site.server,
        database or site.database,
        LocalDocumentStore(documents) if documents else site.documents,
        documents,
    )


def version_key(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def known_migrations() -> set[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {f"{app}.{name}" for app, name in loader.disk_migrations}


def check_compatible(manifest: dict[str, Any]) -> None:
    """Refuse a backup made by a newer Tutela; an older one is migrated forward later."""
    theirs, ours = manifest["tutela_version"], tutela.__version__
    unknown = sorted(set(manifest["migrations"]) - known_migrations())
    if version_key(theirs) > version_key(ours) or unknown:
        detail = f" (migrations unknown here: {', '.join(unknown[:3])})" if unknown else ""
        raise RestoreRefused(
            f"The backup was made by Tutela {theirs}, newer than this Tutela {ours}{detail}. "
            f"Install Tutela {theirs} or newer to restore it."
        )


def checked_manifest(backup: BackupFolder) -> dict[str, Any]:
    """Return the manifest of a backup whose files all match it; raise RestoreRefused otherwise."""
    if backup.manifest is None:
        raise RestoreRefused(f"Backup {backup.id} cannot be used: {backup.problem}.")
    problems = check_files(backup.path, backup.manifest)
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise RestoreRefused(
            f"Backup {backup.id} is damaged: {'; '.join(problems[:3])}{more}. "
            "Use another backup or the off-site copy."
        )
    return backup.manifest


def read_index(
    backup: BackupFolder, manifest: dict[str, Any], identity: Path | None
) -> list[dict[str, Any]]:
    """Decrypt the document index; this is where a wrong identity file shows."""
    data = (backup.path / manifest["documents"]["index"]).read_bytes()
    if manifest["encryption"]["method"] == "age":
        if identity is None:
            raise RestoreRefused(
                f"Backup {backup.id} is encrypted: give the private key with --identity FILE."
            )
        try:
            data = crypto.decrypt_bytes(data, crypto.load_identities(identity))
        except (crypto.WrongIdentity, crypto.DamagedFile, crypto.KeyProblem) as e:
            raise RestoreRefused(f"Backup {backup.id} cannot be decrypted: {e}.") from None
    index: list[dict[str, Any]] = json.loads(data)
    return index


def open_backup(
    backup_id: str, identity: Path | None
) -> tuple[BackupFolder, dict[str, Any], list[dict[str, Any]]]:
    backup = backup_folder(backup_root(), backup_id)
    manifest = checked_manifest(backup)
    check_compatible(manifest)
    return backup, manifest, read_index(backup, manifest, identity)


def decrypt_document(
    backup: BackupFolder,
    manifest: dict[str, Any],
    entry: dict[str, Any],
    identities: list[Any],
    out: BinaryIO,
) -> None:
    """Write one document's content to `out`; raise RestoreFailed if it differs from the index."""
    writer = HashingWriter(out)
    with (backup.path / entry["blob"]).open("rb") as source:
        if manifest["encryption"]["method"] == "age":
            try:
                crypto.decrypt_stream(source, writer, identities)  # type: ignore[arg-type]
            except (crypto.WrongIdentity, crypto.DamagedFile) as e:
                raise RestoreFailed(f"A document of backup {backup.id}: {e}.") from None
        else:
            while chunk := source.read(1 << 20):
                writer.write(chunk)
    if writer.digest.hexdigest() != entry["sha256"] or writer.size != entry["size"]:
        raise RestoreFailed(
            f"A document of backup {backup.id} does not match its SHA-256 after decryption."
        )


class NullSink:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def restore_database(
    backup: BackupFolder,
    manifest: dict[str, Any],
    identity: Path | None,
    server: pgtools.Server,
    database: str,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """Pipe the decrypted dump into pg_restore, all in one transaction.

    NOTE: --single-transaction rules out pg_restore -j, and a piped archive cannot be read in
    parallel anyway; the documents are restored on the other core instead.

    `meanwhile` runs while the two processes work (the documents, on the other core). If it
    raises, both processes are killed and pg_restore's transaction is rolled back.
    """
    tools = pgtools.find_tools(
        max(pgtools.server_major(server, database), manifest["postgresql"]["pg_dump_major"])
    )
    source = backup.path / manifest["database"]["file"]
    decrypt_args = ["--identity", str(identity)] if identity else []
    with tempfile.TemporaryFile() as decrypt_err, tempfile.TemporaryFile() as restore_err:
        decrypt = subprocess.Popen(  # noqa: S603
            [
                *(sys.executable, "-m", "tutela.ops.crypto", "decrypt"),
                *decrypt_args,
                *("--input", str(source)),
            ],
            stdout=subprocess.PIPE,
            stderr=decrypt_err,
            preexec_fn=end_with_parent,
        )
        restore = subprocess.Popen(  # noqa: S603
            [
                tools.pg_restore,
                "--dbname",
                database,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
            ],
            stdin=decrypt.stdout,
            stderr=restore_err,
            env=server.tool_env(database),
            preexec_fn=end_with_parent,
        )
        assert decrypt.stdout is not None  # noqa: S101
        decrypt.stdout.close()
        try:
            meanwhile()
        except BaseException:
            for process in (restore, decrypt):
                process.kill()
                process.wait()
            raise
        restore_code = restore.wait()
        decrypt_code = decrypt.wait()
        decrypt_err.seek(0)
        restore_err.seek(0)
        if decrypt_code != 0:
            message = last_line(decrypt_err.read().decode(errors="replace"))
            raise RestoreFailed(f"Decrypting the database dump failed: {message}")
        if restore_code != 0:
            message = last_line(restore_err.read().decode(errors="replace"))
            raise RestoreFailed(f"pg_restore failed (exit {restore_code}): {message}")


def compare_with_manifest(server: pgtools.Server, database: str, manifest: dict[str, Any]) -> None:
    """The restored counts and audit chain head must equal what the backup recorded."""
    with server.connect(database) as conn:
        counts = facts.record_counts(conn)
        head = facts.audit_chain_head(conn)
    expected = {key: value for key, value in manifest["counts"].items() if key != "documents"}
    if counts != expected:
        raise RestoreFailed(
            f"The restored record counts {counts} differ from the manifest's {expected}."
        )
    if head != manifest["audit_chain_head"]:
        raise RestoreFailed("The restored audit chain head differs from the manifest's.")


def require_whole_chain(chain: dict[str, Any]) -> None:
    if chain["broken_at"] is not None:
        raise RestoreFailed(
            f"The restored audit chain is broken at entry #{chain['broken_at']}: {chain['reason']}."
        )


def prepare_target(target: Target, force: bool, note: dict[str, str]) -> bool:
    """Check that the target may be overwritten, then empty it and mark it incomplete.

    Return whether an interrupted restore was found and cleaned.
    """
    if not pgtools.database_exists(target.server, target.database):
        pgtools.create_database(target.server, target.database)
    with target.server.connect(target.database) as conn:
        tables = pgtools.table_count(conn)
        db_marked = pgtools.restore_marked(conn)
    docs_marked = target.documents.marked_incomplete()
    interrupted = db_marked or docs_marked
    if not (force or interrupted):
        if tables:
            raise RestoreRefused(
                f"The database {target.database} is not empty ({tables} tables). Restore into "
                "an empty database, or give --force to replace its content."
            )
        if target.documents.has_documents():
            raise RestoreRefused(
                f"The document store ({target.documents.describe()}) is not empty. Restore "
                "into an empty one, or give --force to replace its content."
            )
    if interrupted:
        logger.warning(
            "The target contains an interrupted restore; starting again from an empty target"
        )

    # The marks go first, so that a restore killed at any later point is recognisable.
    target.documents.mark_incomplete(note)
    pgtools.wipe_and_mark(target.server, target.database, json.dumps(note))
    target.documents.clear()
    return interrupted


@dataclass
class RestoreResult:
    backup_id: str
    seconds: float
    documents: int
    migrations_applied: list[str]
    audit_entries_checked: int
    cleaned_interrupted: bool


def restore_backup(
    backup_id: str,
    identity: Path | None,
    target: Target,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    progress = progress or Progress()
    started = time.monotonic()
    backup, manifest, index = open_backup(backup_id, identity)
    identities = crypto.load_identities(identity) if identity else []

    note = {"backup_id": backup.id, "started_at": dt.datetime.now(dt.UTC).isoformat()}
    interrupted = prepare_target(target, force, note)
    logger.info("Restoring backup %s into database %s", backup.id, target.database)

    def restore_documents() -> None:
        progress.documents_found(len(index), sum(entry["size"] for entry in index))
        for entry in index:

            def produce(out: BinaryIO, entry: dict[str, Any] = entry) -> None:
                decrypt_document(backup, manifest, entry, identities, out)

            target.documents.write_document(entry["name"], produce)
            progress.document_done(entry["size"])

    restore_database(backup, manifest, identity, target.server, target.database, restore_documents)
    progress.database_done()

    compare_with_manifest(target.server, target.database, manifest)
    finished = run_step(
        target.server.url(target.database),
        {
            "action": "finish",
            "backup_id": backup.id,
            "snapshot_at": manifest["snapshot_at"],
            "tutela_version": manifest["tutela_version"],
            "forced": force,
            "actor": getpass.getuser(),
        },
    )
    require_whole_chain(finished["chain"])
    migrated: list[str] = finished["applied"]
    chain = finished["chain"]

    pgtools.clear_mark(target.server, target.database)
    target.documents.clear_mark()
    seconds = time.monotonic() - started
    logger.info("Restored backup %s in %.1f s", backup.id, seconds)
    return RestoreResult(backup.id, seconds, len(index), migrated, chain["checked"], interrupted)


@dataclass
class VerifyResult:
    backup_id: str
    ok: bool
    problems: list[str]
    restored: bool
    seconds: float


def verify_backup(backup_id: str, identity: Path | None) -> VerifyResult:
    """Check the hashes; with an identity, also decrypt everything and restore into scratch."""
    started = time.monotonic()
    backup = backup_folder(backup_root(), backup_id)
    try:
        manifest = checked_manifest(backup)
        if identity is None:
            return VerifyResult(backup.id, True, [], False, time.monotonic() - started)
        index = read_index(backup, manifest, identity)
        trial_restore(backup, manifest, index, identity)
    except (
        RestoreRefused,
        RestoreFailed,
        TargetStepFailed,
        crypto.KeyProblem,
        pgtools.ToolsMissing,
        psycopg.Error,
        OSError,
    ) as e:
        return VerifyResult(backup.id, False, [str(e)], identity is not None, 0.0)

    seconds = time.monotonic() - started
    record = {"ok": True, "at": status.now_iso(), "seconds": round(seconds, 1)}
    atomic_write_json(backup.path / VERIFIED, record)
    status.record("verify", {"id": backup.id, "snapshot_at": manifest["snapshot_at"]})
    return VerifyResult(backup.id, True, [], True, seconds)


def trial_restore(
    backup: BackupFolder, manifest: dict[str, Any], index: list[dict[str, Any]], identity: Path
) -> None:
    identities = crypto.load_identities(identity)

    def check_documents() -> None:
        for entry in index:
            decrypt_document(backup, manifest, entry, identities, NullSink())  # type: ignore[arg-type]

    server = pgtools.site_server()
    scratch = f"tutela_verify_{os.getpid()}_{secrets.token_hex(3)}"
    pgtools.create_database(server, scratch)
    try:
        restore_database(backup, manifest, identity, server, scratch, check_documents)
        compare_with_manifest(server, scratch, manifest)
        require_whole_chain(run_step(server.url(scratch), {"action": "check-chain"}))
    finally:
        pgtools.drop_database(server, scratch)
