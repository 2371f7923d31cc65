"""`tutela backup push`: copy complete backups off the host.

Targets:
- a mounted path (`/mnt/offsite/tutela` or `file:///mnt/offsite/tutela`): files are copied
  through temporary names and renamed when whole; a document already at the target under the
  same name (names are SHA-256 sums) is hard-linked instead of copied again;
- rsync (`rsync:user@host:/srv/tutela-backups` or `user@host:/srv/tutela-backups`, or
  `rsync:/local/path`): over SSH in batch mode, keeping hard links, resuming partial files;
- S3 (`s3://bucket/prefix`): each file uploaded under prefix/<id>/<path> with its SHA-256 in
  the object's metadata; objects already there with the same size and SHA-256 are skipped.
  The endpoint and credentials come from the TUTELA_BACKUP_S3_* settings and the secrets file.

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

from django.conf import settings

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
            result = push_s3(backups, target)
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


def push_s3(backups: list[BackupFolder], target: str) -> PushResult:
    """Upload complete backups to `s3://bucket/prefix`, each file under prefix/<id>/<path>.

    Each object carries the file's SHA-256 in its metadata. A file whose object already has
    the same size and SHA-256 is not uploaded again, so an interrupted push resumes file by
    file (a large file cut off part-way is uploaded again whole). manifest.json goes last.
    """
    bucket, _, prefix = target.removeprefix("s3://").partition("/")
    if not bucket:
        raise PushFailed(f"The push target {describe_target(target)!r} names no bucket.")
    client = s3_client()
    result = PushResult(describe_target(target))
    for backup in backups:
        assert backup.manifest is not None  # noqa: S101
        base = "/".join(part for part in (prefix.strip("/"), backup.id) if part)
        manifest_sha = sha256_file(backup.path / MANIFEST)[1]
        if s3_object_sha(client, bucket, f"{base}/{MANIFEST}") == manifest_sha:
            result.already_there += 1
            result.newest = backup
            continue
        for entry in backup.manifest["files"]:
            key = f"{base}/{entry['path']}"
            if s3_object_sha(client, bucket, key, entry["size"]) == entry["sha256"]:
                continue
            result.bytes_copied += s3_upload(
                client, backup.path / entry["path"], bucket, key, entry
            )
            result.files_copied += 1
        if (backup.path / VERIFIED).exists():
            entry = {"path": VERIFIED, "sha256": sha256_file(backup.path / VERIFIED)[1]}
            s3_upload(client, backup.path / VERIFIED, bucket, f"{base}/{VERIFIED}", entry)
        # Last: with the manifest the copy counts as a backup at the target.
        entry = {"path": MANIFEST, "sha256": manifest_sha}
        s3_upload(client, backup.path / MANIFEST, bucket, f"{base}/{MANIFEST}", entry)
        result.backups += 1
        result.newest = backup
    return result


def s3_client() -> Any:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    options = settings.TUTELA_BACKUP_S3
    return boto3.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name=options["region_name"],
        aws_access_key_id=options["access_key"],
        aws_secret_access_key=options["secret_key"],
        config=Config(
            s3={"addressing_style": options["addressing_style"] or "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def s3_object_sha(client: Any, bucket: str, key: str, size: int | None = None) -> str | None:
    """Return the SHA-256 recorded on an object, or None if it is missing or of another size."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            return None
        raise PushFailed(s3_error_message(bucket, error)) from None
    if size is not None and head.get("ContentLength") != size:
        return None
    sha = head.get("Metadata", {}).get("sha256")
    return str(sha) if sha else None


def s3_upload(client: Any, source: Path, bucket: str, key: str, expected: dict[str, Any]) -> int:
    """Upload `source` after checking its SHA-256 against the manifest; return the bytes."""
    from boto3.exceptions import S3UploadFailedError  # type: ignore[import-untyped]
    from botocore.exceptions import BotoCoreError, ClientError

    size, sha = sha256_file(source)
    if sha != expected["sha256"]:
        raise PushFailed(
            f"{source.parent.name}/{expected['path']} does not match its manifest; run "
            "`tutela backup verify` on it. Nothing of it was pushed as complete."
        )
    try:
        client.upload_file(str(source), bucket, key, ExtraArgs={"Metadata": {"sha256": sha}})
    except ClientError as error:
        raise PushFailed(s3_error_message(bucket, error)) from None
    except S3UploadFailedError as error:
        # The transfer manager wraps the server's answer in its message: "... (AccessDenied) ...".
        found = re.search(r"\((\w+)\)", str(error))
        code = found.group(1) if found else "unknown"
        raise PushFailed(s3_error_message(bucket, code)) from None
    except BotoCoreError as error:
        raise PushFailed(
            f"The S3 upload to bucket {bucket!r} failed ({type(error).__name__}). Run the "
            "push again: it resumes where it stopped."
        ) from None
    return size


def s3_error_message(bucket: str, error: Any) -> str:
    code = error if isinstance(error, str) else error.response.get("Error", {}).get("Code", "?")
    return (
        f"S3 refused the request on bucket {bucket!r} ({code}). Check the bucket name and the "
        "TUTELA_BACKUP_S3_* settings and the backup_s3_secret_access_key secret; run the push "
        "again when fixed: it resumes where it stopped."
    )
