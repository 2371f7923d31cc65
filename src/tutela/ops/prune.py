"""`tutela backup prune`: keep grandfather-father-son generations, remove the rest.

A backup is kept when it is the newest of one of the last N days, ISO weeks or months that
have a backup, when it is the newest backup, or when it is the newest verified backup.
Folders of interrupted backups (no manifest) go too. Damaged ones stay for a person to read.
"""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tutela.ops.backup import LOCK_FILE
from tutela.ops.files import exclusive_lock
from tutela.ops.manifest import BackupFolder, list_backups

logger = logging.getLogger(__name__)


@dataclass
class PrunePlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # id -> reasons
    remove: list[BackupFolder] = field(default_factory=list)
    damaged: list[BackupFolder] = field(default_factory=list)


def newest_per(backups: list[BackupFolder], key: str, count: int) -> list[BackupFolder]:
    """Return the newest backup of each of the last `count` periods (day, week, month)."""
    chosen: dict[str, BackupFolder] = {}
    for backup in sorted(backups, key=lambda b: b.created_at, reverse=True):
        at = backup.created_at
        if key == "daily":
            period = at.strftime("%Y-%m-%d")
        elif key == "weekly":
            year, week, _ = at.isocalendar()
            period = f"{year}-W{week:02d}"
        else:
            period = at.strftime("%Y-%m")
        if period not in chosen:
            if len(chosen) == count:
                break
            chosen[period] = backup
    return list(chosen.values())


def plan_prune(root: Path, daily: int, weekly: int, monthly: int) -> PrunePlan:
    plan = PrunePlan()
    backups = list_backups(root)
    complete = [backup for backup in backups if backup.complete]

    def keep(backup: BackupFolder, reason: str) -> None:
        plan.keep.setdefault(backup.id, []).append(reason)

    for key, count in (("daily", daily), ("weekly", weekly), ("monthly", monthly)):
        for backup in newest_per(complete, key, count):
            keep(backup, key)
    if complete:
        keep(complete[-1], "newest")
    verified = [backup for backup in complete if backup.verified()]
    if verified:
        keep(verified[-1], "newest verified")

    for backup in backups:
        if backup.id in plan.keep:
            continue
        if backup.complete or backup.interrupted:
            plan.remove.append(backup)
        else:
            plan.damaged.append(backup)
    return plan


def prune_backups(
    root: Path, daily: int, weekly: int, monthly: int, *, execute: bool
) -> tuple[PrunePlan, int]:
    """Plan (and with `execute`, apply) the pruning under the backup lock.

    The lock keeps a running backup's folder, which has no manifest yet, from looking like an
    interrupted one. Return the plan and how many backups were removed.
    """
    removed = 0
    with exclusive_lock(root / LOCK_FILE, "backup or prune"):
        plan = plan_prune(root, daily, weekly, monthly)
        if execute:
            for backup in plan.remove:
                logger.info("Removing backup %s", backup.id)
                shutil.rmtree(backup.path)
                removed += 1
    return plan, removed
