"""`tutela config ...`: load, check, export and import configuration."""

import getpass
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.audit.log import record_event
from tutela.configuration import loading, locations, schema
from tutela.configuration.permissions import configuration_locked
from tutela.promotion import cli as promotion_cli

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "default"
# The actions that change the configuration on this site, refused while it is locked.
LOCAL_EDITS = frozenset({"load", "load_default", "load_locations", "import_primero"})


def audit_local_edit(action: str) -> None:
    """Record a configuration change made from the command line, after it committed.

    NOTE: the entry is written in its own transaction, so a crash between the two would leave
    the change without its entry.
    """
    record_event(
        "configuration.load",
        actor_name=f"cli:{getpass.getuser()}",
        object_type="configuration",
        object_id=action,
        details={"via": "cli"},
    )


def print_problems(error: schema.ConfigurationInvalid) -> str:
    lines = [f"The configuration has {len(error.problems)} problem(s); nothing was changed:"]
    lines += [f"  {problem.path}: {problem.message}" for problem in error.problems]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Manage the configuration (forms, lookups, locations). Loading checks the whole "
        "document first and changes nothing when any problem is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        load = commands.add_parser("load", help="Load a Tutela configuration JSON file.")
        load.add_argument("file", type=Path)

        check = commands.add_parser("check", help="Check a configuration file; change nothing.")
        check.add_argument("file", type=Path)

        commands.add_parser(
            "load-default", help="Load Tutela's default child protection configuration."
        )

        load_locations = commands.add_parser(
            "load-locations", help="Import the location tree from a CSV file with HXL hashtags."
        )
        load_locations.add_argument("file", type=Path)

        dump = commands.add_parser("dump", help="Write the configuration in force as JSON.")
        dump.add_argument("--output", type=Path, help="File to write (default: standard output)")

        primero = commands.add_parser(
            "import-primero",
            help="Import a Primero v2 configuration (the body of POST /api/v2/configurations).",
        )
        primero.add_argument("file", type=Path)
        primero.add_argument(
            "--dry-run", action="store_true", help="Convert and check, but change nothing."
        )

        # Snapshots and promotion between the demo and the production site.
        promotion_cli.add_commands(commands)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"].replace("-", "_")
        if action in promotion_cli.ACTIONS:
            promotion_cli.handle(action, options, self.stdout, self.stderr)
            return
        if action in LOCAL_EDITS and not options.get("dry_run") and configuration_locked():
            raise CommandError(
                "Local configuration editing is locked on this site (drift control: lock); "
                "configuration arrives through promotion. Unlock it with "
                "`tutela site drift-control report` to edit here.",
                returncode=1,
            )
        try:
            getattr(self, f"handle_{action}")(options)
        except schema.ConfigurationInvalid as e:
            raise CommandError(print_problems(e), returncode=1) from None
        if action in LOCAL_EDITS and not options.get("dry_run"):
            audit_local_edit(action)

    def handle_load(self, options: dict[str, Any]) -> None:
        summary = loading.load_configuration(loading.read_document(options["file"]))
        self.report_load(summary)

    def handle_check(self, options: dict[str, Any]) -> None:
        problems = schema.check_document(loading.read_document(options["file"]))
        if problems:
            raise schema.ConfigurationInvalid(problems)
        self.stdout.write(f"{options['file']}: no problems found.")

    def handle_load_default(self, options: dict[str, Any]) -> None:
        summary = loading.load_configuration(
            loading.read_document(DEFAULT_DIR / "configuration.json")
        )
        self.report_load(summary)
        count = locations.load_locations(DEFAULT_DIR / "locations.csv")
        self.stdout.write(f"Loaded {count} sample locations.")

    def handle_load_locations(self, options: dict[str, Any]) -> None:
        count = locations.load_locations(options["file"])
        self.stdout.write(f"Imported {count} locations.")

    def handle_dump(self, options: dict[str, Any]) -> None:
        text = json.dumps(loading.dump_configuration(), ensure_ascii=False, indent=2)
        if options["output"]:
            options["output"].write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            sys.stdout.write(text + "\n")

    def handle_import_primero(self, options: dict[str, Any]) -> None:
        from tutela.configuration import primero

        report = primero.import_primero(options["file"], dry_run=options["dry_run"])
        self.stdout.write(report.render())
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")

    def report_load(self, summary: loading.LoadSummary) -> None:
        self.stdout.write(
            f"Loaded {summary.record_types} record types, {summary.sections} sections, "
            f"{summary.fields} fields and {summary.lookups} lookups."
        )
        if summary.archived_fields:
            self.stdout.write(
                f"Archived {len(summary.archived_fields)} removed field(s); records keep their "
                f"values: {', '.join(summary.archived_fields)}"
            )
