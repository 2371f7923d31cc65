"""`tutela keys status | rotate | rewrap | retire | encrypt-records`: encryption at rest."""

import contextlib
import getpass
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from tutela.audit.log import record_event
from tutela.encryption import backfill, keyring, rotation

# Session advisory lock that lets one `keys encrypt-records` run at a time.
BACKFILL_LOCK = 7_410_401


def audited(action: str, key_id: str, details: dict[str, Any] | None = None) -> None:
    """Record a key operation in the audit log: the key id only, never key material."""
    record_event(
        action,
        object_type="master_key",
        object_id=key_id,
        details=details or {},
        actor_name=f"cli:{getpass.getuser()}",
    )


@contextlib.contextmanager
def single_run() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BACKFILL_LOCK])
        row = cursor.fetchone()
        if not row or not row[0]:
            raise CommandError(
                "Another `tutela keys encrypt-records` is running; wait for it to finish.",
                returncode=1,
            )
        try:
            yield
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [BACKFILL_LOCK])


class Command(BaseCommand):
    help = (
        "Show, rotate and retire the master keys of encryption at rest, rewrap data keys, "
        "and encrypt stored records to match the configuration (docs/encryption.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("status", help="List the master keys and how many data keys each wraps.")
        create = actions.add_parser(
            "create-file", help="Write a new keys file with a master key and an index key."
        )
        create.add_argument("path", type=Path, metavar="PATH", help="File to create (mode 600)")
        rotate = actions.add_parser(
            "rotate", help="Add a master key, move new writes to it, then rewrap the data keys."
        )
        rotate.add_argument(
            "--keys-file",
            type=Path,
            help="File to add the key to (default: the file the keys are read from, or "
            "keys.toml in TUTELA_VAR_DIR when there is none)",
        )
        rotate.add_argument(
            "--no-rewrap", action="store_true", help="Leave the rewrap to `tutela keys rewrap`."
        )
        rotate.add_argument("--batch", type=int, default=500, help="Data keys per transaction")
        rewrap = actions.add_parser(
            "rewrap", help="Wrap every data key under the active master key, in batches."
        )
        rewrap.add_argument("--batch", type=int, default=500, help="Data keys per transaction")
        retire = actions.add_parser(
            "retire", help="Remove a master key that no data key refers to (dry run by default)."
        )
        retire.add_argument("key_id", metavar="KEY_ID")
        retire.add_argument("--execute", action="store_true", help="Remove it from the keys file")
        records = actions.add_parser(
            "encrypt-records",
            help="Encrypt stored record values and history to match the sensitive flags in force.",
        )
        records.add_argument("--batch", type=int, default=500, help="Records per transaction")
        records.add_argument("--after", type=uuid.UUID, help="Resume after this record id")
        records.add_argument("--limit", type=int, help="Stop after this many records")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("batch", "limit"):
            if options.get(name) is not None and options[name] < 1:
                raise CommandError(f"--{name}={options[name]} must be 1 or more.", returncode=2)
        try:
            getattr(self, options["action"].replace("-", "_"))(options)
        except (rotation.RotationError, keyring.KeyringError) as e:
            raise CommandError(str(e), returncode=1) from None

    def status(self, options: dict[str, Any]) -> None:
        ring = keyring.keyring()
        if not ring.enabled:
            self.stdout.write(
                "Encryption at rest is off: no master key is configured, so sensitive values "
                "and files are stored in clear. See docs/encryption.md."
            )
            return
        self.stdout.write(f"Keys file: {ring.path}")
        for key in rotation.status():
            marks = []
            if key.active:
                marks.append("active")
            if not key.in_keys_file:
                marks.append("MISSING from the keys file")
            if key.in_keys_file and not key.active and key.data_keys == 0:
                marks.append("unused: can be retired")
            suffix = f" ({', '.join(marks)})" if marks else ""
            self.stdout.write(f"{key.key_id}: wraps {key.data_keys} data keys{suffix}")

    def create_file(self, options: dict[str, Any]) -> None:
        path: Path = options["path"]
        if path.exists():
            raise CommandError(f"{path} exists already; choose another path.", returncode=1)
        keyring.ensure_keys_file(path)
        self.stdout.write(
            f"Wrote {path}. Copy its lines to the top of the secrets file (TUTELA_SECRETS_FILE), "
            f"keep a copy offline, and delete this file."
        )

    def rotate(self, options: dict[str, Any]) -> None:
        path = (
            options["keys_file"] or keyring.keyring().path or Path(settings.VAR_DIR) / "keys.toml"
        )
        key_id = rotation.rotate(path)
        audited("keys.rotate", key_id)
        self.stdout.write(f"Added master key {key_id} to {path}; new values and files use it.")
        self.stdout.write("Copy the keys file to its offline backup now: without it, data is lost.")
        if not options["no_rewrap"]:
            self.rewrap(options)

    def rewrap(self, options: dict[str, Any]) -> None:
        count = rotation.rewrap(
            options["batch"], progress=lambda n: self.stderr.write(f"rewrapped {n} data keys")
        )
        audited("keys.rewrap", "", {"data_keys": count})
        self.stdout.write(f"Rewrapped {count} data keys under the active master key.")

    def retire(self, options: dict[str, Any]) -> None:
        rotation.retire(options["key_id"], execute=options["execute"])
        if options["execute"]:
            audited("keys.retire", options["key_id"])
            self.stdout.write(f"Retired master key {options['key_id']}.")
        else:
            self.stdout.write(
                f"Master key {options['key_id']} wraps no data key and can be retired; "
                f"run again with --execute to remove it from the keys file."
            )

    def encrypt_records(self, options: dict[str, Any]) -> None:
        def report(progress: backfill.Progress) -> None:
            self.stderr.write(
                f"{progress.checked} records checked, {progress.records} rewritten, "
                f"last id {progress.last_id}"
            )

        with single_run():
            progress = backfill.backfill(
                batch=options["batch"],
                after=options["after"],
                limit=options["limit"],
                report=report,
            )
            texts = backfill.backfill_texts(options["batch"]) if options["after"] is None else 0
        self.stdout.write(
            f"Checked {progress.checked} records. Rewrote {progress.records} records that did "
            f"not match the configuration, {progress.history_rows} history rows and {texts} "
            "file names and saved searches."
        )
