"""`tutela backup create`: the database and the documents, encrypted, with a manifest written last.

Steps:
1. take the backup lock; remove folders that interrupted backups left behind;
2. open a REPEATABLE READ transaction and export its snapshot, so that the dump, the record
   counts and the audit chain head all read one state of the database;
3. start `pg_dump --snapshot` piped into an encryption process that writes database.dump.age;
4. meanwhile copy the documents, listed after the snapshot: each is encrypted into
   documents/xx/<SHA-256 of the encrypted file>; a document unchanged since the previous
   backup (same name, size and modification time, same recipients) is hard-linked from it;
5. write the encrypted document index, flush everything to disk, then write manifest.json
   atomically: only a folder with a manifest is a backup;
6. remember the documents for the next incremental run and record the status.
"""

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from django.conf import settings

import tutela
from tutela.ops import crypto, facts, pgtools, status
from tutela.ops.documents import DocumentInfo, DocumentStore, site_document_store
from tutela.ops.files import (
    HashingReader,
    HashingWriter,
    atomic_write_json,
    end_with_parent,
    exclusive_lock,
    flush_to_disk,
    sha256_file,
)
from tutela.ops.manifest import (
    FORMAT,
    MANIFEST,
    BackupFolder,
    complete_backups,
    list_backups,
    new_backup_id,
    write_manifest,
)

logger = logging.getLogger(__name__)

DATABASE_FILE = "database.dump"
INDEX_FILE = "documents.json"
DOCUMENTS_DIR = "documents"
STATE_FILE = "documents-state.json"
LOCK_FILE = ".backup.lock"


class BackupFailed(Exception):
    pass


def backup_root() -> Path:
    return Path(settings.TUTELA_BACKUP_DIR)


def state_dir(root: Path) -> Path:
    return root / ".state"


class Progress:
    """Progress events of a running backup; the command shows them as a progress bar."""

    def documents_found(self, count: int, total_bytes: int) -> None:
        pass

    def document_done(self, size: int) -> None:
        pass

    def database_bytes(self, written: int) -> None:
        pass

    def database_done(self) -> None:
        pass


@dataclass
class Encryption:
    """The recipients' public keys; an empty list means --no-encryption."""

    recipients: list[str]

    @property
    def enabled(self) -> bool:
        return bool(self.recipients)

    @property
    def suffix(self) -> str:
        return ".age" if self.enabled else ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.recipients)).encode()).hexdigest()

    def parsed(self) -> list[Any]:
        return [crypto.parse_recipient(key) for key in self.recipients]


def recipients_from(keys: list[str], files: list[Path]) -> list[str]:
    """Public keys from --recipient, --recipients-file and TUTELA_BACKUP_RECIPIENTS_FILES."""
    found = list(keys)
    for path in [*files, *(Path(name) for name in settings.TUTELA_BACKUP_RECIPIENTS_FILES)]:
        found.extend(crypto.read_recipients_file(path))
    for key in found:
        crypto.parse_recipient(key)
    return sorted(set(found))


@dataclass
class Snapshot:
    """An open REPEATABLE READ transaction whose snapshot pg_dump imports."""

    conn: psycopg.Connection[Any]
    name: str
    taken_at: dt.datetime
    facts: dict[str, Any]


def take_snapshot(server: pgtools.Server, database: str) -> Snapshot:
    conn = server.connect(database)
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot(), now()").fetchone()
        assert row is not None  # noqa: S101
        version, major = facts.server_version(conn)
        size_row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        snapshot_facts = {
            "migrations": facts.applied_migrations(conn),
            "counts": facts.record_counts(conn),
            "audit_chain_head": facts.audit_chain_head(conn),
            "server_version": version,
            "server_major": major,
            "database_size": int(size_row[0]) if size_row else 0,
            "referenced_documents": facts.referenced_documents(conn),
        }
    except BaseException:
        conn.close()
        raise
    return Snapshot(conn, str(row[0]), row[1], snapshot_facts)


@dataclass
class DatabaseDump:
    dump: subprocess.Popen[bytes]
    writer: subprocess.Popen[bytes]
    path: Path
    stderr_dump: BinaryIO
    stderr_writer: BinaryIO

    def poll(self) -> bool:
        return self.dump.poll() is not None and self.writer.poll() is not None

    def kill(self) -> None:
        for process in (self.dump, self.writer):
            if process.poll() is None:
                process.kill()
                process.wait()

    def close(self) -> None:
        self.stderr_dump.close()
        self.stderr_writer.close()

    def result(self) -> dict[str, Any]:
        """Wait for both processes; return the size and SHA-256 of the written file."""
        dump_code = self.dump.wait()
        writer_code = self.writer.wait()
        self.stderr_dump.seek(0)
        self.stderr_writer.seek(0)
        dump_err = self.stderr_dump.read().decode(errors="replace").strip()
        writer_err = self.stderr_writer.read().decode(errors="replace").strip()
        if dump_code != 0:
            raise BackupFailed(f"pg_dump failed (exit {dump_code}): {last_line(dump_err)}")
        if writer_code != 0:
            raise BackupFailed(f"writing the database dump failed: {last_line(writer_err)}")
        result: dict[str, Any] = json.loads(writer_err.splitlines()[-1])
        return result


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def start_dump(
    tools: pgtools.PgTools,
    server: pgtools.Server,
    database: str,
    snapshot: str,
    folder: Path,
    encryption: Encryption,
) -> DatabaseDump:
    path = folder / (DATABASE_FILE + encryption.suffix)
    # NOTE: custom format streamed into the encryption, not directory format with -j: the
    # directory format needs the plaintext dump on disk first, and -j dumps one table per
    # worker while the record table is most of the data. The documents use the other core.
    # Closed with the DatabaseDump; the messages are read after the processes end.
    stderr_dump = tempfile.TemporaryFile()  # noqa: SIM115
    stderr_writer = tempfile.TemporaryFile()  # noqa: SIM115
    dump = subprocess.Popen(  # noqa: S603
        [
            tools.pg_dump,
            "--format=custom",
            f"--snapshot={snapshot}",
            "--no-password",
            "--lock-wait-timeout=120000",
        ],
        env=server.tool_env(database),
        stdout=subprocess.PIPE,
        stderr=stderr_dump,
        preexec_fn=end_with_parent,
    )
    if encryption.enabled:
        action = ["encrypt", *(f"--recipient={key}" for key in encryption.recipients)]
    else:
        action = ["copy"]
    writer = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tutela.ops.crypto", *action, "--output", str(path)],
        stdin=dump.stdout,
        stderr=stderr_writer,
        preexec_fn=end_with_parent,
    )
    assert dump.stdout is not None  # noqa: S101
    dump.stdout.close()  # The writer owns the pipe now, so pg_dump sees EPIPE if the writer dies.
    return DatabaseDump(dump, writer, path, stderr_dump, stderr_writer)


@dataclass
class DocumentCopy:
    """The documents of one backup: what the index lists and what the manifest lists."""

    index: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, list[Any]] = field(default_factory=dict)
    new: int = 0
    linked: int = 0
    plain_bytes: int = 0


def load_state(root: Path, encryption: Encryption) -> tuple[Path | None, dict[str, list[Any]]]:
    """Return the previous backup's folder and documents, when its recipients are the same."""
    try:
        state = json.loads((state_dir(root) / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return None, {}
    previous = root / str(state.get("backup_id", ""))
    if state.get("recipients") != encryption.fingerprint or not (previous / MANIFEST).exists():
        return None, {}
    return previous, dict(state.get("documents", {}))


def encrypt_document(
    store: DocumentStore, document: DocumentInfo, folder: Path, encryption: Encryption
) -> tuple[str, int, str, int]:
    """Encrypt one document into the backup.

    Return the blob's path, its stored size, and the document's SHA-256 and size.
    """
    temporary = folder / DOCUMENTS_DIR / f".tutela-tmp-{os.getpid()}"
    with store.open_document(document.name) as source, temporary.open("wb") as raw:
        reader = HashingReader(source)
        writer = HashingWriter(raw)
        if encryption.enabled:
            crypto.encrypt_stream(reader, writer, encryption.parsed())  # type: ignore[arg-type]
        else:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
    stored_hash = writer.digest.hexdigest()
    blob = f"{DOCUMENTS_DIR}/{stored_hash[:2]}/{stored_hash}"
    (folder / blob).parent.mkdir(exist_ok=True)
    temporary.replace(folder / blob)
    return blob, writer.size, reader.digest.hexdigest(), reader.size


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:
        # Another file system, or one without hard links: a plain copy.
        shutil.copyfile(source, target)


def copy_documents(
    store: DocumentStore,
    folder: Path,
    encryption: Encryption,
    previous: Path | None,
    known: dict[str, list[Any]],
    progress: Progress,
    between: Callable[[], None],
) -> DocumentCopy:
    documents = list(store.list_documents())
    progress.documents_found(len(documents), sum(document.size for document in documents))
    (folder / DOCUMENTS_DIR).mkdir()
    copy = DocumentCopy()
    for document in documents:
        entry = known.get(document.name)
        if (
            previous is not None
            and entry is not None
            and entry[0] == document.size
            and entry[1] == document.modified
            and (previous / entry[3]).is_file()
        ):
            size, modified, plain_hash, blob, stored_size = entry
            link_or_copy(previous / blob, folder / blob)
            copy.linked += 1
        else:
            blob, stored_size, plain_hash, size = encrypt_document(
                store, document, folder, encryption
            )
            modified = document.modified
            copy.new += 1
        copy.index.append({"name": document.name, "size": size, "sha256": plain_hash, "blob": blob})
        copy.state[document.name] = [size, modified, plain_hash, blob, stored_size]
        copy.plain_bytes += size
        progress.document_done(size)
        between()
    return copy


def write_index(folder: Path, copy: DocumentCopy, encryption: Encryption) -> str:
    """Write the document index (names are personal data, so it is encrypted too)."""
    name = INDEX_FILE + encryption.suffix
    data = json.dumps(copy.index, ensure_ascii=False).encode()
    with (folder / name).open("wb") as out:
        if encryption.enabled:
            out.write(crypto.encrypt_bytes(data, encryption.parsed()))
        else:
            out.write(data)
    return name


def stored_file(folder: Path, relative: str, sha256: str | None = None) -> dict[str, Any]:
    path = folder / relative
    if sha256 is None:
        size, sha256 = sha256_file(path)
    else:
        size = path.stat().st_size
    return {"path": relative, "size": size, "sha256": sha256}


def remove_interrupted(root: Path) -> None:
    """Delete folders of backups that died before their manifest (we hold the lock)."""
    for backup in list_backups(root):
        if backup.interrupted:
            logger.info("Removing the interrupted backup %s", backup.id)
            shutil.rmtree(backup.path, ignore_errors=True)


def create_backup(encryption: Encryption, progress: Progress | None = None) -> dict[str, Any]:
    """Make one complete backup; return its manifest. Raise BackupFailed with the reason."""
    progress = progress or Progress()
    root = backup_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir(root).mkdir(exist_ok=True, mode=0o700)
    store = site_document_store()
    server, database = pgtools.site_server(), pgtools.site_database()
    started = time.monotonic()

    with exclusive_lock(root / LOCK_FILE, "backup or prune"):
        remove_interrupted(root)
        backup_id = new_backup_id(root, dt.datetime.now(dt.UTC))
        folder = root / backup_id
        folder.mkdir(mode=0o700)
        logger.info("Starting backup %s", backup_id)
        try:
            manifest = write_backup(
                folder, backup_id, encryption, store, server, database, progress, started
            )
        except BaseException:
            # A failed backup leaves nothing that could pass for one.
            shutil.rmtree(folder, ignore_errors=True)
            raise
    logger.info(
        "Backup %s complete in %.1f s (%d documents, %d new)",
        backup_id,
        time.monotonic() - started,
        manifest["documents"]["count"],
        manifest["documents"]["new"],
    )
    return manifest


def write_backup(
    folder: Path,
    backup_id: str,
    encryption: Encryption,
    store: DocumentStore,
    server: pgtools.Server,
    database: str,
    progress: Progress,
    started: float,
) -> dict[str, Any]:
    root = folder.parent
    previous, known = load_state(root, encryption)
    snapshot = take_snapshot(server, database)
    try:
        tools = pgtools.find_tools(snapshot.facts["server_major"])
        dump = start_dump(tools, server, database, snapshot.name, folder, encryption)
        try:

            def report_dump() -> None:
                if dump.path.exists():
                    progress.database_bytes(dump.path.stat().st_size)

            copy = copy_documents(store, folder, encryption, previous, known, progress, report_dump)
            while not dump.poll():
                report_dump()
                time.sleep(0.2)
            dump_file = dump.result()
        except BaseException:
            dump.kill()
            raise
        finally:
            dump.close()
        progress.database_done()
    finally:
        snapshot.conn.close()

    # Files are written before the rows that name them commit, so a referenced file missing
    # here is missing from the store itself; the backup goes on and the manifest counts it.
    listed = {entry["name"] for entry in copy.index}
    missing = sorted(snapshot.facts["referenced_documents"] - listed)
    if missing:
        logger.warning(
            "%d files that attachments refer to are not in the document store (first: %s)",
            len(missing),
            missing[0],
        )
    index_name = write_index(folder, copy, encryption)
    files = [
        stored_file(folder, dump.path.name, dump_file["sha256"]),
        stored_file(folder, index_name),
        *(
            {"path": blob, "size": size, "sha256": Path(blob).name}
            for blob, size in sorted({entry[3]: entry[4] for entry in copy.state.values()}.items())
        ),
    ]
    flush_to_disk(folder)

    manifest = {
        "format": FORMAT,
        "id": backup_id,
        "snapshot_at": snapshot.taken_at.astimezone(dt.UTC).isoformat(),
        "completed_at": dt.datetime.now(dt.UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "tutela_version": tutela.__version__,
        "migrations": snapshot.facts["migrations"],
        "postgresql": {
            "server_version": snapshot.facts["server_version"],
            "server_major": snapshot.facts["server_major"],
            "pg_dump_major": tools.major,
            "database_size": snapshot.facts["database_size"],
        },
        "site": {"name": settings.TUTELA_SITE_NAME, "role": settings.TUTELA_SITE_ROLE},
        "counts": {**snapshot.facts["counts"], "documents": len(copy.index)},
        "audit_chain_head": snapshot.facts["audit_chain_head"],
        "encryption": {
            "method": "age" if encryption.enabled else "none",
            "recipients": encryption.recipients,
        },
        "database": {"file": dump.path.name, "format": "custom"},
        "documents": {
            "index": index_name,
            "count": len(copy.index),
            "bytes": copy.plain_bytes,
            "new": copy.new,
            "linked": copy.linked,
            "referenced_missing": len(missing),
        },
        "files": files,
    }
    # The last write: from here on the folder is a backup.
    write_manifest(folder, manifest)
    remember_documents(root, backup_id, encryption, copy)
    status.record(
        "backup",
        {
            "id": backup_id,
            "snapshot_at": manifest["snapshot_at"],
            "seconds": manifest["seconds"],
            "bytes": sum(entry["size"] for entry in files),
        },
    )
    return manifest


def remember_documents(
    root: Path, backup_id: str, encryption: Encryption, copy: DocumentCopy
) -> None:
    atomic_write_json(
        state_dir(root) / STATE_FILE,
        {"backup_id": backup_id, "recipients": encryption.fingerprint, "documents": copy.state},
    )


def newest_complete(root: Path | None = None) -> BackupFolder | None:
    backups = complete_backups(root or backup_root())
    return backups[-1] if backups else None
