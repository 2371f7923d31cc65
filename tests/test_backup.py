"""Backups: the round trip, damage detection, versions, and crashes part way.

Every backup here is real: pg_dump and pg_restore against the test server, age encryption,
files under tmp_path. Restores go into databases the tests create and drop.
"""

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from tests.backup_support import (
    Keys,
    ScratchDatabases,
    audit_rows,
    child_env,
    document_hashes,
    history_rows,
    make_keys,
    record_rows,
    run_tutela,
    seed_site,
)
from tests.conftest import database_url, migrations_hash
from tutela.audit.log import AUDIT_CHAIN_LOCK
from tutela.ops import pgtools
from tutela.ops.backup import Encryption, create_backup
from tutela.ops.documents import RESTORE_MARKER
from tutela.ops.manifest import MANIFEST, backup_folder, complete_backups, list_backups
from tutela.ops.restore import RestoreRefused, restore_backup, target_for, verify_backup

pytestmark = pytest.mark.usefixtures("sample_config", "ops_settings")


@pytest.fixture
def seeded(transactional_db: None, caseworker: Any, colleague: Any) -> list[str]:
    return seed_site(caseworker, colleague)


def site_db() -> str:
    return str(connection.settings_dict["NAME"])


def backup_of(keys: Keys) -> dict[str, Any]:
    return create_backup(Encryption([keys.public]))


def test_round_trip_restores_records_history_audit_and_documents(
    seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, settings: Any
) -> None:
    source = site_db()
    media = Path(settings.MEDIA_ROOT)
    before = {
        "records": record_rows(source),
        "history": history_rows(source),
        "audit": audit_rows(source),
        "documents": document_hashes(media),
    }
    manifest = backup_of(keys)

    # Wipe the documents; restore into a database and folder that start empty.
    shutil.rmtree(media)
    target_db = scratch_databases.name()
    target_docs = Path(settings.TUTELA_BACKUP_DIR).parent / "restored-media"
    result = restore_backup(manifest["id"], keys.identity, target_for(target_db, target_docs))

    assert record_rows(target_db) == before["records"]
    assert history_rows(target_db) == before["history"]
    restored_audit = audit_rows(target_db)
    assert restored_audit[: len(before["audit"])] == before["audit"]
    assert restored_audit[-1]["action"] == "backup.restore"
    assert restored_audit[-1]["previous_hash"] == manifest["audit_chain_head"]
    assert result.audit_entries_checked == len(before["audit"])
    assert document_hashes(target_docs) == before["documents"]


def test_manifest_records_versions_counts_and_files(seeded: list[str], keys: Keys) -> None:
    manifest = backup_of(keys)
    assert manifest["counts"]["records"] == {"case": 3}
    assert manifest["counts"]["documents"] == 7
    assert "audit.0002_append_only_trigger" in manifest["migrations"]
    assert manifest["postgresql"]["server_major"] >= 15
    assert manifest["site"] == {"name": "tutela", "role": "production"}
    assert manifest["encryption"]["recipients"] == [keys.public]
    assert {entry["path"] for entry in manifest["files"]} >= {
        "database.dump.age",
        "documents.json.age",
    }


def test_document_names_and_content_are_encrypted(seeded: list[str], keys: Keys) -> None:
    manifest = backup_of(keys)
    folder = backup_folder(Path(manifest_root()), manifest["id"]).path
    everything = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert b"same text in every case" not in everything
    assert b"photo.jpg" not in everything
    assert b"Haddad" not in everything


def manifest_root() -> str:
    from django.conf import settings

    return str(settings.TUTELA_BACKUP_DIR)


def test_second_backup_links_unchanged_documents(seeded: list[str], keys: Keys) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    first = backup_of(keys)
    storages["default"].save("cases/new-upload.pdf", ContentFile(b"%PDF new"))
    second = backup_of(keys)
    assert second["documents"]["linked"] == first["documents"]["count"]
    assert second["documents"]["new"] == 1
    root = Path(manifest_root())
    blob = next(e["path"] for e in first["files"] if e["path"].startswith("documents/"))
    assert (root / first["id"] / blob).stat().st_ino == (root / second["id"] / blob).stat().st_ino


def test_backup_refused_while_locked(seeded: list[str], keys: Keys) -> None:
    from tutela.ops.backup import LOCK_FILE
    from tutela.ops.files import LockBusy, exclusive_lock

    root = Path(manifest_root())
    with exclusive_lock(root / LOCK_FILE, "backup or prune"), pytest.raises(LockBusy):
        backup_of(keys)
    assert list_backups(root) == []


def test_backup_refuses_to_run_unencrypted_without_the_flag(seeded: list[str]) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="never written unencrypted"):
        call_command("backup", "create")
    assert list_backups(Path(manifest_root())) == []


def test_unencrypted_backup_restores_with_the_flag(
    seeded: list[str], scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    manifest = create_backup(Encryption([]))
    assert manifest["encryption"]["method"] == "none"
    target = scratch_databases.name()
    restore_backup(manifest["id"], None, target_for(target, tmp_path / "restored"))
    assert record_rows(target) == record_rows(site_db())


def damage_flip_byte(folder: Path, manifest: dict[str, Any]) -> None:
    path = folder / "database.dump.age"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def damage_truncate(folder: Path, manifest: dict[str, Any]) -> None:
    blob = next(e for e in manifest["files"] if e["path"].startswith("documents/"))
    path = folder / blob["path"]
    path.write_bytes(path.read_bytes()[: blob["size"] // 2])


def damage_remove_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).unlink()


DAMAGE = {
    "flipped byte": (damage_flip_byte, "database.dump.age is damaged: its SHA-256 does not match"),
    "truncated file": (damage_truncate, "is truncated"),
    "missing manifest": (damage_remove_manifest, "has no manifest.json, so it is incomplete"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damage_found_and_refused(
    kind: str, seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    damage, reason = DAMAGE[kind]
    manifest = backup_of(keys)
    folder = Path(manifest_root()) / manifest["id"]
    damage(folder, manifest)

    verified = verify_backup(manifest["id"], keys.identity)
    assert not verified.ok
    assert reason in verified.problems[0]

    target = scratch_databases.name()
    with pytest.raises(RestoreRefused, match=reason):
        restore_backup(manifest["id"], keys.identity, target_for(target, tmp_path / "t"))
    assert not pgtools.database_exists(pgtools.site_server(), target)


def test_wrong_key_found_and_refused(
    seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    manifest = backup_of(keys)
    stranger = make_keys(tmp_path / "other", "stranger")
    reason = "the identity file does not match any recipient of this backup"

    verified = verify_backup(manifest["id"], stranger.identity)
    assert not verified.ok
    assert reason in verified.problems[0]
    assert "AGE-SECRET-KEY" not in verified.problems[0]

    target = scratch_databases.name()
    with pytest.raises(RestoreRefused, match=reason):
        restore_backup(manifest["id"], stranger.identity, target_for(target, tmp_path / "t"))


def test_verify_with_identity_restores_into_a_scratch_database(
    seeded: list[str], keys: Keys
) -> None:
    manifest = backup_of(keys)
    result = verify_backup(manifest["id"], keys.identity)
    assert result.ok, result.problems
    assert result.restored
    assert backup_folder(Path(manifest_root()), manifest["id"]).verified() is not None


def test_restore_refuses_a_non_empty_target_without_force(
    seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    manifest = backup_of(keys)
    target = scratch_databases.name()
    pgtools.create_database(pgtools.site_server(), target)
    with pgtools.site_server().connect(target) as conn:
        conn.execute("CREATE TABLE precious (id int)")

    with pytest.raises(RestoreRefused, match="is not empty"):
        restore_backup(manifest["id"], keys.identity, target_for(target, tmp_path / "t"))
    restore_backup(manifest["id"], keys.identity, target_for(target, tmp_path / "t"), force=True)
    with pgtools.site_server().connect(target) as conn:
        tables = conn.execute("SELECT to_regclass('public.precious')").fetchone()
    assert tables == (None,)


def rewrite_manifest(folder: Path, **changes: Any) -> None:
    from tutela.ops.manifest import read_manifest, write_manifest

    body = read_manifest(folder)
    body.update(changes)
    body.pop("checksum")
    write_manifest(folder, body)


def test_restore_refuses_a_backup_from_a_newer_tutela(
    seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    manifest = backup_of(keys)
    folder = Path(manifest_root()) / manifest["id"]
    rewrite_manifest(folder, tutela_version="99.0.0")
    with pytest.raises(RestoreRefused, match=r"newer than this Tutela .*Install Tutela 99.0.0"):
        restore_backup(
            manifest["id"], keys.identity, target_for(scratch_databases.name(), tmp_path / "t")
        )


def test_restore_migrates_older_backup(
    transactional_db: None,
    keys: Keys,
    scratch_databases: ScratchDatabases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An older site: a database one migration behind this code.
    older = scratch_databases.name()
    template = f"tutela_template_{migrations_hash()}"
    with psycopg.connect(**pgtools.site_server().conninfo("postgres", autocommit=True)) as admin:
        admin.execute(f'CREATE DATABASE "{older}" TEMPLATE "{template}"')
    migrate_back = run_tutela(
        ["migrate", "access", "0001", "-v", "0"], {"DATABASE_URL": database_url(older)}
    )
    _, errors = migrate_back.communicate(timeout=120)
    assert migrate_back.returncode == 0, errors.decode()
    monkeypatch.setattr(pgtools, "site_database", lambda: older)
    manifest = backup_of(keys)
    assert "access.0002_apitoken" not in manifest["migrations"]

    target = scratch_databases.name()
    result = restore_backup(manifest["id"], keys.identity, target_for(target, tmp_path / "t"))
    # Every migration newer than access 0001 runs, those of other apps that depend on it too.
    assert "access.0002_apitoken" in result.migrations_applied


def wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def backend_waiting(database: str, application: str | None = None) -> bool:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    args: list[Any] = [database]
    if application:
        query += " AND application_name = %s"
        args.append(application)
    with pgtools.site_server().connect("postgres") as conn:
        row = conn.execute(query, args).fetchone()
    return bool(row and row[0])


def test_sigkill_during_backup_leaves_nothing_complete(
    seeded: list[str], keys: Keys, tmp_path: Path
) -> None:
    source = site_db()
    root = Path(manifest_root())
    env = child_env(source, tmp_path)
    # Hold a table lock that pg_dump waits for, so the kill lands part way through the backup.
    with pgtools.site_server().connect(source) as blocker:
        blocker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        child = run_tutela(["backup", "create", "--recipient", keys.public], env)
        wait_until(lambda: backend_waiting(source, "tutela-backup"), 120, "pg_dump to wait")
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
        blocker.rollback()

    backups = list_backups(root)
    assert len(backups) == 1
    assert not backups[0].complete
    assert complete_backups(root) == []
    verified = verify_backup(backups[0].id, None)
    assert "incomplete" in verified.problems[0]
    wait_until(lambda: not backend_waiting(source), 30, "pg_dump to end with its parent")

    # The next backup clears the remains and completes.
    manifest = backup_of(keys)
    assert [backup.id for backup in list_backups(root)] == [manifest["id"]]


def test_restore_sigkill_marks_target_incomplete(
    seeded: list[str], keys: Keys, scratch_databases: ScratchDatabases, tmp_path: Path
) -> None:
    manifest = backup_of(keys)
    target = scratch_databases.name()
    docs = tmp_path / "restored"
    server = pgtools.site_server()
    pgtools.create_database(server, target)
    env = child_env(site_db(), tmp_path)
    restore_args = ["restore", manifest["id"], "--identity", str(keys.identity)]
    restore_args += ["--database", target, "--documents", str(docs)]

    # The restore's audit entry waits for the chain lock we hold, after the data is in.
    with server.connect(target, autocommit=True) as blocker:
        blocker.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
        child = run_tutela(restore_args, env)
        wait_until(lambda: backend_waiting(target), 120, "the restore to wait for the lock")
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)

    with server.connect(target) as conn:
        assert pgtools.restore_marked(conn)
    assert (docs / RESTORE_MARKER).exists()

    again = run_tutela(restore_args, env)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert b"an interrupted earlier restore was cleaned away first" in out
    with server.connect(target) as conn:
        assert not pgtools.restore_marked(conn)
    assert not (docs / RESTORE_MARKER).exists()
    restored = audit_rows(target)
    assert [entry["action"] for entry in restored].count("backup.restore") == 1


def test_backup_list_shows_complete_and_incomplete(
    seeded: list[str], keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    manifest = backup_of(keys)
    (Path(manifest_root()) / "20000101T000000Z").mkdir()
    call_command("backup", "list")
    out = capsys.readouterr().out
    assert manifest["id"] in out
    assert "20000101T000000Z" in out
    assert "1 complete, 1 incomplete." in out
    assert json.loads((Path(manifest_root()) / manifest["id"] / MANIFEST).read_text())["id"]


def test_backup_counts_referenced_files_missing_from_the_store(
    seeded: list[str], keys: Keys, caseworker: Any, settings: Any
) -> None:
    import datetime as dt

    from tutela.attachments.models import Attachment

    stored = "attachments/ab/" + "0" * 32
    (Path(settings.MEDIA_ROOT) / "attachments/ab").mkdir(parents=True)
    (Path(settings.MEDIA_ROOT) / stored).write_bytes(b"photo")
    for name in (stored, "attachments/cd/" + "1" * 32):
        Attachment.objects.create(
            record_id=seeded[0],
            field_name="photo",
            file_name="photo.jpg",
            content_type="image/jpeg",
            size=5,
            sha256="0" * 64,
            storage_name=name,
            uploaded_by=caseworker,
            uploaded_at=dt.datetime.now(dt.UTC),
        )
    manifest = backup_of(keys)
    assert manifest["documents"]["referenced_missing"] == 1
