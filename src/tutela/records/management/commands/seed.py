"""`tutela seed synthetic`: write fake cases for demo sites, tests and benchmarks."""

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tutela.records import synthetic


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Write synthetic cases for a demo or test site. Never run it on a site with real "
        "cases: nothing marks the fake ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        generate = commands.add_parser(
            "synthetic",
            help="Write realistic fake cases for the default configuration.",
            description=(
                "Write realistic, reproducible fake cases for the default configuration "
                "(`tutela config load-default` first): names from several regions in Latin "
                "and Arabic script, subform rows, closed cases and about 2%% near-duplicates. "
                "The same --seed and --as-of give the same cases. For demo and test sites "
                "only: the cases look real and nothing marks them as synthetic."
            ),
        )
        generate.add_argument(
            "--cases", type=positive, required=True, help="Number of cases to write"
        )
        generate.add_argument(
            "--seed", type=int, default=1, help="Seed of the random data (default 1)"
        )
        generate.add_argument(
            "--owner",
            action="append",
            default=[],
            metavar="USERNAME",
            help="A caseworker who owns some of the cases; repeat for several. Without it, "
            "synthetic caseworkers are created in a synthetic agency.",
        )
        generate.add_argument(
            "--caseworkers",
            type=positive,
            help="Number of synthetic caseworkers to create when no --owner is given "
            "(default: one per 1,000 cases, from 2 to 1,000)",
        )
        generate.add_argument(
            "--as-of",
            type=dt.date.fromisoformat,
            help="The day the cases are generated as of, YYYY-MM-DD (default today); every "
            "date falls before it",
        )
        generate.add_argument(
            "--batch-size",
            type=positive,
            default=2000,
            help="Cases written per transaction (default 2000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from tutela.sites.actions import is_initialized_production

        # NOTE: a site that never ran `tutela site init` may still seed, as the quick start
        # and the benchmarks do; a site initialised as production never does.
        if is_initialized_production():
            raise CommandError(
                "This is a production site (`tutela site init --role production`); synthetic "
                "cases are for demo and test sites only.",
                returncode=1,
            )
        try:
            self.handle_synthetic(options)
        except synthetic.SeedError as error:
            raise CommandError(str(error), returncode=1) from None

    def handle_synthetic(self, options: dict[str, Any]) -> None:
        count: int = options["cases"]
        if options["owner"]:
            owners = synthetic.named_caseworkers(options["owner"])
        else:
            caseworkers = options["caseworkers"] or min(1000, max(2, count // 1000))
            owners = synthetic.ensure_caseworkers(caseworkers)
        context = synthetic.load_context(owners, options["as_of"])

        console = Console(stderr=True)
        with Progress(
            TextColumn("Writing cases"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("cases", total=count)
            summary = synthetic.seed_cases(
                context,
                count,
                options["seed"],
                batch_size=options["batch_size"],
                on_batch=lambda done: progress.advance(task, done),
            )
        self.stdout.write(
            f"Wrote {summary.cases:,} synthetic cases ({summary.closed:,} closed, "
            f"{summary.near_duplicates:,} near-duplicates) with {summary.history_rows:,} "
            f"history rows for {summary.caseworkers:,} caseworkers in "
            f"{summary.seconds:,.1f} s ({summary.cases_per_second:,.0f} cases/s)."
        )
