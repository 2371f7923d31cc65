"""`tutela backup create | list | verify | prune | push | install-schedule`."""

import datetime as dt
import getpass
import logging
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tutela.audit.log import record_event
from tutela.ops import alerts, status
from tutela.ops.backup import (
    BackupFailed,
    Encryption,
    backup_root,
    create_backup,
    recipients_from,
)
from tutela.ops.backup import Progress as BackupProgress
from tutela.ops.crypto import KeyProblem
from tutela.ops.documents import UnsupportedStore
from tutela.ops.files import LockBusy
from tutela.ops.manifest import UnknownBackup, list_backups
from tutela.ops.pgtools import ToolsMissing
from tutela.ops.prune import prune_backups
from tutela.ops.push import PushFailed, describe_target, push_backups
from tutela.ops.restore import verify_backup
from tutela.ops.schedule import Schedule, ScheduleProblem, write_schedule

logger = logging.getLogger(__name__)

# Errors whose message is safe and useful to show as is.
EXPECTED = (
    BackupFailed,
    KeyProblem,
    LockBusy,
    ToolsMissing,
    UnsupportedStore,
    OSError,
    psycopg.Error,
)


class RichProgress(BackupProgress):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.documents: TaskID = progress.add_task("Documents", total=None)
        self.database: TaskID = progress.add_task("Database dump", total=None)

    def documents_found(self, count: int, total_bytes: int) -> None:
        self.progress.update(self.documents, total=total_bytes, description=f"{count} documents")

    def document_done(self, size: int) -> None:
        self.progress.advance(self.documents, size)

    def database_bytes(self, written: int) -> None:
        self.progress.update(self.database, completed=written)

    def database_done(self) -> None:
        task = self.progress.tasks[self.database]
        self.progress.update(self.database, total=task.completed)


def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # The normal exit path removes the unfinished backup folder and stops pg_dump.
    raise SystemExit(128 + signum)


class Command(BaseCommand):
    help = (
        "Back up the database and the documents, encrypted to recipients whose private keys "
        "are kept off this host; list, verify, prune and push backups off-site. See "
        "docs/backups.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Make a backup now.")
        create.add_argument(
            "--recipient",
            action="append",
            default=[],
            metavar="AGE_PUBLIC_KEY",
            help="Encrypt to this public key (age1... or ssh-ed25519 ...); repeat for several",
        )
        create.add_argument(
            "--recipients-file",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help="A file of public keys, one a line (also TUTELA_BACKUP_RECIPIENTS_FILES)",
        )
        create.add_argument(
            "--no-encryption",
            action="store_true",
            help="Write the backup unencrypted (only for a backup that never leaves the host)",
        )

        actions.add_parser("list", help="Show the backups, newest last.")

        verify = actions.add_parser(
            "verify",
            help="Check a backup's files against its manifest; with --identity, also "
            "decrypt everything and restore it into a scratch database.",
        )
        verify.add_argument("id", metavar="ID")
        verify.add_argument("--identity", type=Path, metavar="FILE", help="age private key file")

        prune = actions.add_parser(
            "prune",
            help="Remove backups outside the daily, weekly and monthly generations "
            "(a dry run unless --execute).",
        )
        prune.add_argument("--execute", action="store_true", help="Really remove them")
        prune.add_argument("--daily", type=int, default=settings.TUTELA_BACKUP_KEEP_DAILY)
        prune.add_argument("--weekly", type=int, default=settings.TUTELA_BACKUP_KEEP_WEEKLY)
        prune.add_argument("--monthly", type=int, default=settings.TUTELA_BACKUP_KEEP_MONTHLY)

        push = actions.add_parser("push", help="Copy complete backups off the host.")
        push.add_argument(
            "--to",
            default=settings.TUTELA_BACKUP_PUSH_TARGET,
            metavar="TARGET",
            help="A mounted path, user@host:/path (rsync over SSH), rsync:/path, or s3:// "
            "(default TUTELA_BACKUP_PUSH_TARGET)",
        )

        schedule = actions.add_parser(
            "install-schedule",
            help="Write a systemd service and timer and a cron line into a folder.",
        )
        schedule.add_argument("--output", type=Path, required=True, metavar="FOLDER")
        schedule.add_argument("--time", default="02:30", help="Daily time, HH:MM (02:30)")
        schedule.add_argument("--user", default="tutela", help="Account to run as (tutela)")
        schedule.add_argument(
            "--environment-file",
            default="/etc/tutela/environment",
            help="File of TUTELA_* variables for the service (/etc/tutela/environment)",
        )
        schedule.add_argument(
            "--into-etc",
            action="store_true",
            help="Allow --output under /etc (otherwise rejected, so that nothing lands there "
            "by accident)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, "handle_" + options["action"].replace("-", "_"))
        handler(options)

    def fail(self, step: str, reason: str, alert: bool = True) -> CommandError:
        if alert:
            status.record("failure", {"step": step})
            alerts.send_failure_email(step, reason)
        return CommandError(reason, returncode=1)

    def handle_create(self, options: dict[str, Any]) -> None:
        signal.signal(signal.SIGTERM, exit_on_sigterm)
        try:
            keys = recipients_from(options["recipient"], options["recipients_file"])
        except KeyProblem as e:
            raise self.fail("backup", str(e)) from None
        if not keys and not options["no_encryption"]:
            raise self.fail(
                "backup",
                "No recipient public key: give --recipient or --recipients-file, or set "
                "TUTELA_BACKUP_RECIPIENTS_FILES. A backup is never written unencrypted "
                "unless --no-encryption is given.",
            )
        if keys and options["no_encryption"]:
            raise CommandError("Give recipients or --no-encryption, not both.", returncode=2)

        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,
        ) as bar:
            try:
                manifest = create_backup(Encryption(keys), RichProgress(bar))
            except EXPECTED as e:
                raise self.fail("backup", str(e)) from None
            except Exception as e:
                # Still mail the team; the message may be long or odd, so it stays in the log.
                logger.exception("The backup failed")
                raise self.fail(
                    "backup", f"unexpected {type(e).__name__}; see the technical log"
                ) from e
        docs = manifest["documents"]
        size = sum(entry["size"] for entry in manifest["files"])
        summary = (
            f"Backup {manifest['id']} complete in {manifest['seconds']:.1f} s: "
            f"{sum(manifest['counts']['records'].values()):,} records, "
            f"{docs['count']:,} documents ({docs['new']:,} new, {docs['linked']:,} unchanged), "
            f"{size / 1e6:,.1f} MB, "
            + (f"encrypted to {len(keys)} recipients." if keys else "NOT encrypted.")
        )
        # After the snapshot, so the backup does not hold its own entry.
        record_event(
            "backup.create",
            actor_name=f"cli:{getpass.getuser()}",
            object_type="backup",
            object_id=manifest["id"],
            details={"encrypted": bool(keys), "recipients": len(keys), "documents": docs["count"]},
        )
        alerts.send_heartbeat(summary)
        self.stdout.write(summary)

    def handle_list(self, options: dict[str, Any]) -> None:
        backups = list_backups(backup_root())
        if not backups:
            self.stdout.write(f"No backups in {backup_root()}.")
            return
        self.stdout.write(f"{'id':<20} {'snapshot (UTC)':<20} {'records':>9} {'docs':>7} state")
        for backup in backups:
            if backup.manifest is None:
                self.stdout.write(f"{backup.id:<20} {'':<20} {'':>9} {'':>7} INCOMPLETE")
                continue
            manifest = backup.manifest
            at = dt.datetime.fromisoformat(manifest["snapshot_at"]).strftime("%Y-%m-%d %H:%M")
            records = sum(manifest["counts"]["records"].values())
            verified = backup.verified()
            state = f"verified {verified['at'][:10]}" if verified else "complete"
            self.stdout.write(
                f"{backup.id:<20} {at:<20} {records:>9,} "
                f"{manifest['documents']['count']:>7,} {state}"
            )
        complete = sum(1 for backup in backups if backup.complete)
        self.stdout.write(f"{complete} complete, {len(backups) - complete} incomplete.")

    def handle_verify(self, options: dict[str, Any]) -> None:
        try:
            result = verify_backup(options["id"], options["identity"])
        except UnknownBackup as e:
            raise CommandError(str(e), returncode=1) from None
        if not result.ok:
            raise self.fail(
                "backup verification", f"Backup {result.backup_id} failed: {result.problems[0]}"
            )
        if result.restored:
            self.stdout.write(
                f"Backup {result.backup_id} is good: every file matches its SHA-256, every "
                "document decrypts to its recorded hash, and a test restore has the manifest's "
                f"record counts and audit chain ({result.seconds:.1f} s)."
            )
        else:
            self.stdout.write(
                f"Backup {result.backup_id}: every file matches its manifest. Give --identity "
                "to decrypt it and test a restore."
            )

    def handle_prune(self, options: dict[str, Any]) -> None:
        try:
            plan, removed = prune_backups(
                backup_root(),
                options["daily"],
                options["weekly"],
                options["monthly"],
                execute=options["execute"],
            )
        except LockBusy as e:
            raise CommandError(str(e), returncode=1) from None
        for backup_id, reasons in sorted(plan.keep.items()):
            self.stdout.write(f"keep    {backup_id}  ({', '.join(reasons)})")
        verb = "remove " if options["execute"] else "would remove"
        for backup in plan.remove:
            self.stdout.write(f"{verb} {backup.id}{'' if backup.complete else '  (incomplete)'}")
        for backup in plan.damaged:
            self.stdout.write(f"damaged {backup.id}  (kept for inspection: {backup.problem})")
        if options["execute"]:
            self.stdout.write(f"Kept {len(plan.keep)}, removed {removed}.")
        else:
            self.stdout.write(
                f"Dry run: would keep {len(plan.keep)} and remove {len(plan.remove)}. "
                "Run again with --execute to remove them."
            )

    def handle_push(self, options: dict[str, Any]) -> None:
        if not options["to"]:
            raise CommandError(
                "No push target: give --to or set TUTELA_BACKUP_PUSH_TARGET.", returncode=2
            )
        try:
            result = push_backups(backup_root(), options["to"])
        except (PushFailed, LockBusy, OSError) as e:
            raise self.fail("backup push", str(e)) from None
        record_event(
            "backup.push",
            actor_name=f"cli:{getpass.getuser()}",
            object_type="backup",
            details={"target": describe_target(result.target), "backups": result.backups},
        )
        self.stdout.write(
            f"Pushed to {result.target}: {result.backups} backups sent, "
            f"{result.already_there} already there; {result.files_copied} files copied "
            f"({result.bytes_copied / 1e6:,.1f} MB), {result.files_linked} linked."
        )

    def handle_install_schedule(self, options: dict[str, Any]) -> None:
        output: Path = options["output"].resolve()
        if (output == Path("/etc") or Path("/etc") in output.parents) and not options["into_etc"]:
            raise CommandError(
                f"{output} is under /etc: write the files elsewhere and copy them, or give "
                "--into-etc.",
                returncode=2,
            )
        beside = Path(sys.executable).parent / "tutela"
        tutela = str(beside) if beside.exists() else shutil.which("tutela") or "tutela"
        schedule = Schedule(
            tutela=tutela,
            user=options["user"],
            working_directory=str(Path.cwd()),
            time=options["time"],
            environment_file=options["environment_file"],
            push=bool(settings.TUTELA_BACKUP_PUSH_TARGET),
        )
        try:
            written = write_schedule(schedule, output)
        except ScheduleProblem as e:
            raise CommandError(str(e), returncode=2) from None
        for path in written:
            self.stdout.write(f"Wrote {path}")
        self.stdout.write(
            "To use the timer: copy the two units to /etc/systemd/system, then "
            "`systemctl daemon-reload && systemctl enable --now tutela-backup.timer`. "
            "Or copy the cron file to /etc/cron.d instead (not both)."
        )
