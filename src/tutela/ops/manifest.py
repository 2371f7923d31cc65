"""A backup's folder and its manifest, the file that makes it a backup.

A folder is a complete backup only when manifest.json is there and its checksum matches: the
manifest is written last, atomically, after every other file is on disk.
"""

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutela.lib.canonical import canonical_json
from tutela.ops.files import atomic_write_json, sha256_file

FORMAT = "tutela-backup/1"
MANIFEST = "manifest.json"
VERIFIED = "verified.json"
# Files a backup may hold beside those its manifest lists.
UNLISTED = {MANIFEST, VERIFIED}
ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z(?:-\d{1,3})?$")


class ManifestProblem(Exception):
    pass


class UnknownBackup(Exception):
    pass


def checksum(body: dict[str, Any]) -> str:
    rest = {key: value for key, value in body.items() if key != "checksum"}
    return hashlib.sha256(canonical_json(rest)).hexdigest()


def write_manifest(folder: Path, body: dict[str, Any]) -> None:
    atomic_write_json(folder / MANIFEST, {**body, "checksum": checksum(body)})


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise ManifestProblem(
            "it has no manifest.json, so it is incomplete: the backup was interrupted or is "
            "still running"
        )
    try:
        body = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        raise ManifestProblem("its manifest.json is damaged (not valid JSON)") from None
    if not isinstance(body, dict) or body.get("checksum") != checksum(body):
        raise ManifestProblem("its manifest.json is damaged (its checksum does not match)")
    if body.get("format") != FORMAT:
        raise ManifestProblem(f"its manifest format {body.get('format')!r} is not {FORMAT}")
    return body


def check_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Compare every file the manifest lists with its size and SHA-256; return the problems."""
    problems = []
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']} is missing")
            continue
        size = path.stat().st_size
        if size < entry["size"]:
            problems.append(f"{entry['path']} is truncated ({size} of {entry['size']} bytes)")
            continue
        if size != entry["size"]:
            problems.append(f"{entry['path']} has {size} bytes, not {entry['size']}")
            continue
        if sha256_file(path)[1] != entry["sha256"]:
            problems.append(f"{entry['path']} is damaged: its SHA-256 does not match")
    return problems


def new_backup_id(root: Path, now: dt.datetime) -> str:
    base = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = base, 1
    while (root / candidate).exists():
        candidate = f"{base}-{n}"
        n += 1
    return candidate


@dataclass
class BackupFolder:
    id: str
    path: Path
    manifest: dict[str, Any] | None
    problem: str = ""

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def interrupted(self) -> bool:
        """No manifest at all: a backup that died or is still being written."""
        return not (self.path / MANIFEST).exists()

    @property
    def created_at(self) -> dt.datetime:
        if self.manifest:
            return dt.datetime.fromisoformat(self.manifest["snapshot_at"])
        return dt.datetime.strptime(self.id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)

    def verified(self) -> dict[str, Any] | None:
        path = self.path / VERIFIED
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("ok") else None


def backup_folder(root: Path, backup_id: str) -> BackupFolder:
    if not ID_PATTERN.match(backup_id) or not (root / backup_id).is_dir():
        raise UnknownBackup(f"There is no backup {backup_id!r} in {root}.")
    path = root / backup_id
    try:
        return BackupFolder(backup_id, path, read_manifest(path))
    except ManifestProblem as e:
        return BackupFolder(backup_id, path, None, str(e))


def list_backups(root: Path) -> list[BackupFolder]:
    """Return every backup folder under `root`, oldest first, complete or not."""
    if not root.is_dir():
        return []
    ids = sorted(child.name for child in root.iterdir() if ID_PATTERN.match(child.name))
    return [backup_folder(root, backup_id) for backup_id in ids]


def complete_backups(root: Path) -> list[BackupFolder]:
    return [backup for backup in list_backups(root) if backup.complete]
