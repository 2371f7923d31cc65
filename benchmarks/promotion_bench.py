#!/usr/bin/env python3
"""Time a promotion plan and apply against the 1,000,000-case benchmark database.

The script works on a copy (`CREATE DATABASE tutela_bench_promotion TEMPLATE
tutela_bench_1000000`, made here unless it exists), never on the original. It migrates the
copy (which builds the record keys index that plans count with), then, in this process:

1. snapshots the default configuration in force (A);
2. stores a changed snapshot (B): a removed field that records hold, an added lookup option
   and a changed form (a relabelled field with new help, a renamed section);
3. times `make_plan(B)`, with the exact counts it found, and the same count done without the
   index (`data ? 'field'`, a sequential scan) for comparison;
4. approves and times `apply_plan`, then rolls back to A the same way;
5. checks that records_record kept its relfilenode (no table rewrite) and that the rollback
   left the configuration id equal to A.

Results go to benchmarks/promotion_results.json and the promotion section of BENCHMARKS.md.

    .venv/bin/python benchmarks/promotion_bench.py [--drop]
"""

import argparse
import copy
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "benchmarks" / "promotion_results.json"
SOURCE = "tutela_bench_1000000"
COPY = "tutela_bench_promotion"
SERVER = "postgresql://postgres@127.0.0.1:5432"
START, END = "<!-- promotion:start -->", "<!-- promotion:end -->"
REMOVED_FIELD = "caregiver_phone"


def log(text: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}", file=sys.stderr, flush=True)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def make_copy() -> float:
    with admin() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [COPY]).fetchone():
            return 0.0
        started = time.monotonic()
        conn.execute(f'CREATE DATABASE "{COPY}" TEMPLATE "{SOURCE}" STRATEGY FILE_COPY')
        return time.monotonic() - started


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{COPY}",
        "DJANGO_SETTINGS_MODULE": "tutela.settings",
        "TUTELA_VAR_DIR": str(ROOT / "benchmarks" / "output" / "var"),
        "TUTELA_MODE": "local",
        "TUTELA_LOG_LEVEL": "WARNING",
    }


def migrate() -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
        env=environment(),
        cwd=ROOT,
        check=True,
    )
    return time.monotonic() - started


def change(content: dict[str, Any]) -> dict[str, Any]:
    """Return B: content without REMOVED_FIELD, with a new option and a changed form."""
    target = copy.deepcopy(content)
    case = next(t for t in target["configuration"]["record_types"] if t["unique_id"] == "case")
    for section in case["form_sections"]:
        section["fields"] = [f for f in section["fields"] if f["name"] != REMOVED_FIELD]
        for field in section["fields"]:
            if field["name"] == "name_first":
                field["label"] = {**field["label"], "en": "Given name"}
                field["help"] = {"en": "As the child says it."}
        if section["unique_id"] == "case_family_care":
            section["name"] = {**section["name"], "en": section["name"]["en"] + " (revised)"}
    lookups = target["configuration"]["lookups"]
    risk = next(item for item in lookups if item["unique_id"] == "lookup-risk-level")
    risk["options"].append({"id": "critical", "label": {"en": "Critical"}})
    return target


def relfilenode() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = 'records_record'")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def timed(function: Any, *args: Any) -> tuple[Any, float]:
    started = time.monotonic()
    value = function(*args)
    return value, time.monotonic() - started


def count_without_index() -> tuple[int, float]:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM records_record WHERE data ? %s", [REMOVED_FIELD])
        row = cursor.fetchone()
    return (int(row[0]) if row else 0), time.monotonic() - started


def measure() -> dict[str, Any]:
    import django

    os.environ.update(environment())
    sys.path.insert(0, str(ROOT / "src"))
    django.setup()
    from django.utils import timezone

    from tutela.access.models import User
    from tutela.lib.canonical import canonical_json
    from tutela.promotion import applying, plans
    from tutela.promotion import content as snapshot_content
    from tutela.promotion.models import Origin, Snapshot

    user, _ = User.objects.get_or_create(
        username="promotion-bench", defaults={"is_superuser": True, "is_staff": True}
    )
    cases = Snapshot.objects.model._meta.apps.get_model("records", "Record").objects.count()
    current, snapshot_seconds = timed(snapshot_content.current_content)
    original_id = snapshot_content.content_id(current)
    target = change(current)
    target_snapshot, _ = Snapshot.objects.get_or_create(
        id=snapshot_content.content_id(target),
        defaults={
            "author": "promotion-bench",
            "created_at": timezone.now(),
            "site_name": "benchmark",
            "min_version": "0.1.0",
            "below_version": "0.2.0",
            "content": canonical_json(target).decode(),
            "origin": Origin.RECEIVED,
            "stored_at": timezone.now(),
        },
    )
    before_node = relfilenode()

    plan, plan_seconds = timed(plans.make_plan, target_snapshot, "promotion-bench")
    warnings = sorted({f["code"] for f in plan.findings if f["severity"] == "warning"})
    applying.approve_plan(plan, user, "benchmark", warnings)
    _, apply_seconds = timed(applying.apply_plan, plan, user)
    applied_id = snapshot_content.current_id()

    rollback, rollback_plan_seconds = timed(
        plans.make_plan, Snapshot.objects.get(pk=original_id), "promotion-bench"
    )
    applying.approve_plan(
        rollback,
        user,
        "benchmark rollback",
        sorted({f["code"] for f in rollback.findings if f["severity"] == "warning"}),
    )
    _, rollback_seconds = timed(applying.apply_plan, rollback, user)
    unindexed_count, unindexed_seconds = count_without_index()

    return {
        "cases": cases,
        "snapshot_seconds": snapshot_seconds,
        "plan_seconds": plan_seconds,
        "plan_changes": len(plan.changes),
        "plan_findings": plan.findings,
        "apply_seconds": apply_seconds,
        "rollback_plan_seconds": rollback_plan_seconds,
        "rollback_apply_seconds": rollback_seconds,
        "applied_equals_target": applied_id == target_snapshot.id,
        "rollback_equals_original": snapshot_content.current_id() == original_id,
        "relfilenode_before": before_node,
        "relfilenode_after": relfilenode(),
        "unindexed_count": unindexed_count,
        "unindexed_seconds": unindexed_seconds,
    }


def index_size() -> str:
    with psycopg.connect(f"{SERVER}/{COPY}") as conn:
        row = conn.execute("SELECT pg_size_pretty(pg_relation_size('record_data_keys'))").fetchone()
    return str(row[0]) if row else "?"


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    with admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"PostgreSQL {row[0] if row else '?'}, Python {platform.python_version()}; load "
        f"average {os.getloadavg()[0]:.1f} when the run ended"
    )


def section(r: dict[str, Any]) -> str:
    removed = next(
        (f["count"] for f in r["plan_findings"] if f["code"] == "field_removed_with_data"), 0
    )
    lines = [
        START,
        "## Configuration promotion",
        "",
        "Measured by `benchmarks/promotion_bench.py` on a copy of the benchmark database "
        f"({r['cases']:,} cases, default configuration). The promoted snapshot removes the "
        f"field `{REMOVED_FIELD}` (held by {removed:,} cases), adds an option to "
        "`lookup-risk-level` and changes the case form (a relabelled field with new help, a "
        "renamed section). Targets: plan and apply under 10 s each, no table rewrite.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| snapshot of the configuration in force | {r['snapshot_seconds']:.2f} |",
        f"| plan ({r['plan_changes']} changes, exact counts) | {r['plan_seconds']:.2f} |",
        f"| apply (rollback snapshot, load, archive, history) | {r['apply_seconds']:.2f} |",
        f"| rollback plan | {r['rollback_plan_seconds']:.2f} |",
        f"| rollback apply | {r['rollback_apply_seconds']:.2f} |",
        f"| the same field count without the index (`data ? '{REMOVED_FIELD}'`) | "
        f"{r['unindexed_seconds']:.2f} |",
        "",
        f"- No table rewrite: `records_record` kept relfilenode {r['relfilenode_before']} "
        f"(after: {r['relfilenode_after']}). The apply changes configuration rows only; the "
        "records keep the removed field's values.",
        f"- After the rollback the configuration id equals the original: "
        f"{'yes' if r['rollback_equals_original'] else 'NO'}.",
        f"- Migrating the copy built the `record_data_keys` index ({r['index_size']}) in "
        f"{r['migrate_seconds']:.0f} s, with CREATE INDEX CONCURRENTLY.",
        f"- Run {r['ran_at']} on {r['machine']}. The machine was shared with other engineers' "
        "tests and benchmarks, so the times are noisier than on an idle host.",
        "- Rerun: `.venv/bin/python benchmarks/promotion_bench.py --drop`.",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    page = PAGE.read_text()
    if START in page:
        before, rest = page.split(START, 1)
        page = before + text + rest.split(END, 1)[1]
    else:
        page = page.rstrip("\n") + "\n\n" + text + "\n"
    PAGE.write_text(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drop", action="store_true", help="Drop the copy at the end")
    options = parser.parse_args()

    log(f"copying {SOURCE} to {COPY}")
    copy_seconds = make_copy()
    log("migrating the copy")
    migrate_seconds = migrate()
    log("measuring")
    results = measure()
    results.update(
        copy_seconds=copy_seconds,
        migrate_seconds=migrate_seconds,
        index_size=index_size(),
        machine=machine(),
        ran_at=f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_section(section(results))
    log(f"plan {results['plan_seconds']:.2f} s, apply {results['apply_seconds']:.2f} s")
    if options.drop:
        from django.db import connections

        connections.close_all()
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')


if __name__ == "__main__":
    main()
