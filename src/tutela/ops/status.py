"""The backup status that /health and the operations page show, kept in one small file.

Each command records its last outcome here, so that a health check reads one file instead of
walking the backup folder.
"""

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings

from tutela.ops.files import atomic_write_json, exclusive_lock

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
KINDS = ("backup", "verify", "drill", "push", "failure")


def status_path() -> Path:
    return Path(settings.TUTELA_BACKUP_DIR) / ".state" / STATUS_FILE


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def read_status() -> dict[str, Any]:
    try:
        value = json.loads(status_path().read_bytes())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def record(kind: str, details: dict[str, Any]) -> None:
    """Store the last outcome of `kind` (backup, verify, drill, push, failure)."""
    path = status_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with exclusive_lock(path.with_suffix(".lock"), "status update"):
        current = read_status()
        current[kind] = {"at": now_iso(), **details}
        atomic_write_json(path, current)


def age_seconds(at: str | None, now: dt.datetime) -> int | None:
    if not at:
        return None
    try:
        return max(0, int((now - dt.datetime.fromisoformat(at)).total_seconds()))
    except ValueError:
        return None


def summary(now: dt.datetime | None = None) -> dict[str, Any]:
    """Last backup, last verified backup, last drill and the age of the off-site copy."""
    now = now or dt.datetime.now(dt.UTC)
    current = read_status()
    backup = current.get("backup", {})
    verify = current.get("verify", {})
    drill = current.get("drill", {})
    push = current.get("push", {})
    backup_age = age_seconds(backup.get("snapshot_at"), now)
    max_age = settings.TUTELA_BACKUP_MAX_AGE_HOURS * 3600
    return {
        "last_backup": {
            "id": backup.get("id"),
            "at": backup.get("snapshot_at"),
            "age_seconds": backup_age,
            "fresh": backup_age is not None and backup_age <= max_age,
        },
        "last_verified": {"id": verify.get("id"), "at": verify.get("at")},
        "last_drill": {
            "at": drill.get("at"),
            "ok": drill.get("ok"),
            "recovery_seconds": drill.get("recovery_seconds"),
        },
        "offsite_copy": {
            "id": push.get("newest_id"),
            "age_seconds": age_seconds(push.get("newest_snapshot_at"), now),
            "pushed_at": push.get("at"),
        },
        "last_failure": {"at": current.get("failure", {}).get("at")},
    }
