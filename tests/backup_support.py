"""Shared pieces of the backup tests: age keys, scratch databases, a seeded site.

Backups run pg_dump and pg_restore for real against the test server. Restores go into
databases that the tests create and drop, named per worker and process.
"""

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyrage  # type: ignore[import-untyped]
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from tests.conftest import admin_conninfo, database_url
from tutela.ops import pgtools
from tutela.records import actions
from tutela.records.models import Status

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Keys:
    identity: Path
    public: str
    recipients_file: Path


def make_keys(folder: Path, name: str = "backup") -> Keys:
    identity = pyrage.x25519.Identity.generate()
    folder.mkdir(parents=True, exist_ok=True)
    identity_file = folder / f"{name}.key"
    identity_file.write_text(f"# test key\n{identity}\n")
    identity_file.chmod(0o600)
    public = str(identity.to_public())
    recipients = folder / f"{name}.pub"
    recipients.write_text(f"# recipients\n{public}\n")
    return Keys(identity_file, public, recipients)


class ScratchDatabases:
    """Databases on the test server that a test creates, dropped at the end."""

    def __init__(self, worker: str) -> None:
        self.prefix = f"tutela_bk_{worker}_{os.getpid()}"
        self.names: list[str] = []

    def name(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:6]}"
        self.names.append(name)
        return name

    def drop_all(self) -> None:
        with psycopg.connect(**admin_conninfo()) as admin:
            for name in self.names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_databases(worker_id: str) -> Iterator[ScratchDatabases]:
    scratch = ScratchDatabases(worker_id)
    yield scratch
    scratch.drop_all()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "keys")


@pytest.fixture
def ops_settings(settings: Any, tmp_path: Path) -> Any:
    settings.TUTELA_BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TUTELA_DR_DIR = tmp_path / "dr"
    settings.TUTELA_BACKUP_RECIPIENTS_FILES = []
    settings.TUTELA_BACKUP_HEARTBEAT_URL = ""
    settings.TUTELA_BACKUP_ALERT_EMAILS = []
    return settings


def rows(database: str, query: str) -> list[Any]:
    with pgtools.site_server().connect(database) as conn:
        return [row[0] for row in conn.execute(query).fetchall()]


def record_rows(database: str) -> list[Any]:
    return rows(database, "SELECT to_jsonb(r) FROM records_record r ORDER BY id")


def history_rows(database: str) -> list[Any]:
    return rows(
        database,
        "SELECT to_jsonb(h) - 'id' FROM records_recordhistory h ORDER BY record_id, version",
    )


def audit_rows(database: str) -> list[Any]:
    return rows(database, "SELECT to_jsonb(a) FROM audit_auditentry a ORDER BY id")


def document_hashes(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def seed_site(caseworker: Any, colleague: Any, cases: int = 3) -> list[str]:
    """Cases with history (updates, a close) and a few documents in MEDIA_ROOT."""
    storage = storages["default"]
    ids = []
    for n in range(cases):
        record = actions.create_record(
            "case", {"name_first": f"Amal{n}", "name_last": "Haddad", "sex": "female"}, caseworker
        )
        record = actions.update_record(
            record.pk, {"age": 7 + n}, colleague, base_version=record.version
        )
        ids.append(str(record.pk))
        storage.save(f"cases/{record.short_id}/photo.jpg", ContentFile(os.urandom(20_000 + n)))
        storage.save(f"cases/{record.short_id}/note.txt", ContentFile(b"same text in every case"))
    actions.set_status(ids[0], Status.CLOSED, colleague, base_version=2)
    storage.save("reports/empty.bin", ContentFile(b""))
    return ids


def run_tutela(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a `tutela` management command in a child process with its own settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tutela.settings", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        **kwargs,
    )


def child_env(test_database: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(test_database),
        "TUTELA_BACKUP_DIR": str(tmp_path / "backups"),
        "TUTELA_MEDIA_ROOT": str(tmp_path / "media"),
        "TUTELA_DR_DIR": str(tmp_path / "dr"),
    }
