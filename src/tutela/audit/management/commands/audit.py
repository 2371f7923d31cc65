"""`tutela audit verify | export`: check the audit chain and write entries as JSON lines."""

import datetime as dt
import getpass
import sys
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.audit.log import record_event, verify_chain
from tutela.audit.models import AuditEntry
from tutela.audit.search import export_line


def parse_day(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; write it as YYYY-MM-DD.") from None
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Verify the audit log's hash chain, or export entries as JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser(
            "verify", help="Recompute every hash; name the first entry that breaks the chain."
        )
        export = actions.add_parser("export", help="Write entries as JSON lines.")
        export.add_argument("--from", dest="start", help="First day, YYYY-MM-DD (UTC)")
        export.add_argument("--to", dest="end", help="Last day included, YYYY-MM-DD (UTC)")
        export.add_argument("--output", type=Path, help="File to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self.verify()
        else:
            self.export(options)

    def verify(self) -> None:
        result = verify_chain()
        if result.first_broken is not None:
            entry = result.first_broken
            raise CommandError(
                f"The audit chain is broken at entry #{entry.id} ({entry.action}, "
                f"{entry.at:%Y-%m-%d %H:%M:%S} UTC): {result.reason}. "
                f"{result.checked} entries before it are intact.",
                returncode=1,
            )
        self.stdout.write(f"The audit chain is intact: {result.checked} entries verified.")

    def export(self, options: dict[str, Any]) -> None:
        entries = AuditEntry.objects.order_by("id")
        if options["start"]:
            entries = entries.filter(at__gte=parse_day(options["start"]))
        if options["end"]:
            entries = entries.filter(at__lt=parse_day(options["end"]) + dt.timedelta(days=1))
        # The export's own entry is left out: it is written below, after this newest id.
        newest = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        entries = entries.filter(id__lte=newest)
        # Audited before the first line is written, as the export from the audit log screen is.
        record_event(
            "audit.export",
            actor_name=f"cli:{getpass.getuser()}",
            object_type="audit_log",
            details={"from": options["start"] or "", "to": options["end"] or "", "via": "cli"},
        )
        output: TextIO = (
            options["output"].open("w", encoding="utf-8") if options["output"] else sys.stdout
        )
        count = 0
        try:
            for entry in entries.iterator(chunk_size=2000):
                output.write(export_line(entry))
                count += 1
        finally:
            if options["output"]:
                output.close()
        self.stderr.write(f"Exported {count} audit entries.")
