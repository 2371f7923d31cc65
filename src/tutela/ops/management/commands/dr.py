"""`tutela dr drill | plan`: disaster recovery drills and the written plan."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.ops import alerts
from tutela.ops.drill import DrillFailed, format_seconds, history_dir, run_drill
from tutela.ops.manifest import UnknownBackup
from tutela.ops.plan import PlanProblem, read_contacts, render_plan


class Command(BaseCommand):
    help = (
        "Disaster recovery: `drill` restores a backup into a scratch site on this host, "
        "checks it works and times it; `plan` writes the site's recovery plan."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        drill = actions.add_parser(
            "drill",
            help="Restore the newest backup into a scratch database and web server, run "
            "smoke checks, and write a report into the drill history.",
        )
        drill.add_argument("--identity", type=Path, required=True, metavar="FILE")
        drill.add_argument("--backup", metavar="ID", help="Drill with this backup, not the newest")
        drill.add_argument("--port", type=int, help="Port of the scratch server (a free one)")
        drill.add_argument(
            "--keep", action="store_true", help="Keep the scratch database and folder"
        )

        plan = actions.add_parser("plan", help="Write the disaster recovery plan (Markdown).")
        plan.add_argument("--output", type=Path, metavar="FILE", help="File (default: stdout)")
        plan.add_argument(
            "--contacts",
            type=Path,
            metavar="FILE",
            help="TOML with [[people]] role/name/contact, keys_location, rto_hours, rpo_hours",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "drill":
            self.drill(options)
        else:
            self.plan(options)

    def drill(self, options: dict[str, Any]) -> None:
        try:
            report = run_drill(
                options["identity"], options["backup"], options["port"], options["keep"]
            )
        except (DrillFailed, UnknownBackup) as e:
            raise CommandError(str(e), returncode=1) from None
        for check in report.checks:
            self.stdout.write(f"{'ok    ' if check.ok else 'FAILED'} {check.name}: {check.detail}")
        if not report.ok:
            failed = next(check for check in report.checks if not check.ok)
            alerts.send_failure_email("disaster recovery drill", f"{failed.name}: {failed.detail}")
            raise CommandError(
                f"The drill failed at {failed.name}. Report in {history_dir()}.", returncode=1
            )
        self.stdout.write(
            f"Drill passed with backup {report.backup_id}: recovery time "
            f"{format_seconds(report.recovery_seconds)}, data age "
            f"{format_seconds(report.data_age_seconds)}. Report in {history_dir()}."
        )

    def plan(self, options: dict[str, Any]) -> None:
        try:
            text = render_plan(read_contacts(options["contacts"]))
        except PlanProblem as e:
            raise CommandError(str(e), returncode=1) from None
        if options["output"]:
            options["output"].write_text(text)
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text)
