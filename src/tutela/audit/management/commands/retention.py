"""`tutela retention run [--execute] | install-schedule`: apply the retention policy."""

import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.audit.retention import RetentionBusy, RetentionReport, run_retention
from tutela.audit.retention_schedule import RetentionSchedule, write_retention_schedule
from tutela.ops.schedule import ScheduleProblem


class Command(BaseCommand):
    help = (
        "Purge or anonymise the closed records that the configuration's retention rules make "
        "due, and delete audit entries older than the audit log's retention period. "
        "A dry run unless --execute is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        run = actions.add_parser("run", help="Apply the retention rules (a dry run by default).")
        run.add_argument(
            "--execute", action="store_true", help="Purge and anonymise; without it, only report"
        )
        run.add_argument(
            "--list", action="store_true", help="Print the id of every record that is due"
        )
        schedule = actions.add_parser(
            "install-schedule",
            help="Write a systemd service and timer and a cron line into a folder.",
        )
        schedule.add_argument("--output", type=Path, required=True, metavar="FOLDER")
        schedule.add_argument("--time", default="03:30", help="Daily time, HH:MM (03:30)")
        schedule.add_argument("--user", default="tutela", help="Account to run as (tutela)")
        schedule.add_argument(
            "--environment-file",
            default="/etc/tutela/environment",
            help="File of TUTELA_* variables for the service (/etc/tutela/environment)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "run":
            self.run(options)
        else:
            self.install_schedule(options)

    def run(self, options: dict[str, Any]) -> None:
        try:
            report = run_retention(execute=options["execute"], progress=self.stderr.write)
        except RetentionBusy as e:
            raise CommandError(str(e), returncode=1) from None
        self.print_report(report, options["list"])
        failed = sum(len(result.failed_ids) for result in report.rules)
        if failed:
            raise CommandError(
                f"{failed} records could not be purged or anonymised and were left unchanged; "
                "the technical log names each with its error.",
                returncode=1,
            )

    def print_report(self, report: RetentionReport, list_ids: bool) -> None:
        verb = "" if report.executed else "would be "
        for result in report.rules:
            rule = result.rule
            done = "purged" if rule.action == "purge" else "anonymised"
            self.stdout.write(
                f"{rule.record_type}: {len(result.record_ids)} records closed for "
                f"{rule.closed_years} years or more {verb}{done}."
            )
            if list_ids:
                for record_id in result.record_ids:
                    self.stdout.write(f"  {record_id}")
            for record_id in result.failed_ids:
                self.stdout.write(f"  failed, left unchanged: {record_id}")
        if report.audit_cutoff is not None:
            deleted = "deleted" if report.executed else "would be deleted"
            self.stdout.write(
                f"Audit log: {report.audit_entries} entries older than "
                f"{report.audit_cutoff:%Y-%m-%d} {deleted}."
            )
        if not report.rules and report.audit_cutoff is None:
            self.stdout.write("The configuration has no retention rules; nothing is due.")
        if not report.executed:
            self.stdout.write("Dry run: nothing was changed. Give --execute to apply.")

    def install_schedule(self, options: dict[str, Any]) -> None:
        beside = Path(sys.executable).parent / "tutela"
        tutela = str(beside) if beside.exists() else shutil.which("tutela") or "tutela"
        schedule = RetentionSchedule(
            tutela=tutela,
            user=options["user"],
            working_directory=str(Path.cwd()),
            time=options["time"],
            environment_file=options["environment_file"],
        )
        try:
            written = write_retention_schedule(schedule, options["output"].resolve())
        except ScheduleProblem as e:
            raise CommandError(str(e), returncode=2) from None
        for path in written:
            self.stdout.write(f"Wrote {path}")
        self.stdout.write(
            "To use the timer: copy the two units to /etc/systemd/system, then "
            "`systemctl daemon-reload && systemctl enable --now tutela-retention.timer`. "
            "Or copy the cron file to /etc/cron.d instead (not both)."
        )
