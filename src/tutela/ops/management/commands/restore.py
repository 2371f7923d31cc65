"""`tutela restore ID`: bring a backup back into an empty database and document folder."""

import signal
from pathlib import Path
from typing import Any

import psycopg
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.ops.crypto import KeyProblem
from tutela.ops.documents import BadDocumentName, UnsupportedStore
from tutela.ops.management.commands.backup import exit_on_sigterm
from tutela.ops.manifest import UnknownBackup
from tutela.ops.pgtools import ToolsMissing
from tutela.ops.restore import RestoreFailed, RestoreRefused, restore_backup, target_for
from tutela.ops.target import TargetStepFailed


class Command(BaseCommand):
    help = (
        "Restore a backup into the site's database and document folder (or the ones named). "
        "Checks every file's SHA-256 first; refuses a non-empty target without --force; "
        "migrates a backup of an older Tutela forward and refuses one from a newer Tutela; "
        "records the restore in the audit log. Stop the web server first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", metavar="ID", help="The backup (see `tutela backup list`)")
        parser.add_argument(
            "--identity",
            type=Path,
            metavar="FILE",
            help="The age private key file (needed for an encrypted backup)",
        )
        parser.add_argument(
            "--database",
            metavar="NAME",
            help="Restore into this database on the same server (default: the site's)",
        )
        parser.add_argument(
            "--documents",
            type=Path,
            metavar="FOLDER",
            help="Restore the documents into this folder (default: MEDIA_ROOT)",
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace whatever the target contains"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        signal.signal(signal.SIGTERM, exit_on_sigterm)
        try:
            target = target_for(options["database"], options["documents"])
            result = restore_backup(
                options["id"], options["identity"], target, force=options["force"]
            )
        except (RestoreRefused, UnknownBackup, KeyProblem, UnsupportedStore) as e:
            raise CommandError(f"Restore rejected: {e}", returncode=1) from None
        except (
            RestoreFailed,
            TargetStepFailed,
            ToolsMissing,
            BadDocumentName,
            OSError,
            psycopg.Error,
        ) as e:
            raise CommandError(
                f"Restore failed: {e} The target is marked incomplete; the next restore "
                "empties it and starts again.",
                returncode=1,
            ) from None
        notes = []
        if result.cleaned_interrupted:
            notes.append("an interrupted earlier restore was cleaned away first")
        if result.migrations_applied:
            notes.append(f"{len(result.migrations_applied)} migrations applied")
        self.stdout.write(
            f"Restored backup {result.backup_id} into database {target.database} in "
            f"{result.seconds:.1f} s: {result.documents:,} documents, "
            f"{result.audit_entries_checked:,} audit entries verified"
            + (f"; {'; '.join(notes)}" if notes else "")
            + ". The restore is recorded in the audit log."
        )
