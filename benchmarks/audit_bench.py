#!/usr/bin/env python3
"""Measure audited actions per second: one writer, then several concurrent writers.

Each action is one transaction that appends one audit entry, as a record view does
(`record_event` with the same kind of details). Every entry extends one hash chain under one
advisory lock, so concurrent writers queue for that lock; the benchmark shows what that
costs. Steps:

1. Create and migrate a scratch database `tutela_auditbench` on the machine's PostgreSQL.
2. For each writer count, start that many processes, each appending its share of entries,
   and time the whole batch from the first start to the last finish.
3. Check the chain with `verify_chain`, drop the database, and rewrite the section between
   the audit-rate markers in BENCHMARKS.md.

    .venv/bin/python benchmarks/audit_bench.py                 # 1, 4 and 8 writers
    .venv/bin/python benchmarks/audit_bench.py --actions 4000 --writers 1 2 4 8 16
"""

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import database as bench_database

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "BENCHMARKS.md"
DATABASE = "tutela_auditbench"
START = "<!-- audit-rate:start -->"
END = "<!-- audit-rate:end -->"


def log(text: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}", flush=True)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(bench_database.database_url("postgres"), autocommit=True)


def create_database() -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    env = bench_database.environment(DATABASE)
    subprocess.run(
        [str(bench_database.TUTELA), "migrate", "--no-input", "-v", "0"], env=env, check=True
    )


def drop_database() -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def setup_django() -> None:
    os.environ.update(bench_database.environment(DATABASE))
    import django

    django.setup()


def write_entries(count: int) -> None:
    """Append `count` entries, each in its own transaction, like `count` record views."""
    from django.db import connections, transaction

    from tutela.audit.log import record_event

    connections.close_all()  # a forked process must not share its parent's connection
    record_id = str(uuid.uuid4())
    for _ in range(count):
        with transaction.atomic():
            record_event("case.view", object_type="case", object_id=record_id)
    connections.close_all()


def run_batch(writers: int, actions: int) -> dict[str, Any]:
    """Time `actions` audited actions split across `writers` processes."""
    share = actions // writers
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=write_entries, args=(share,)) for _ in range(writers)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode != 0 for process in processes):
        raise SystemExit(f"A writer failed with {writers} writers; see its output above.")
    total = share * writers
    return {"writers": writers, "actions": total, "seconds": elapsed, "rate": total / elapsed}


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    with admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"PostgreSQL {row[0] if row else '?'}, Python {platform.python_version()}; "
        f"load average {load:.1f} when the run ended"
    )


def section(results: list[dict[str, Any]], entries: int, ran_at: str, host: str) -> str:
    lines = [
        START,
        "## Audited actions per second",
        "",
        "Measured by `benchmarks/audit_bench.py`: each action is one transaction that appends "
        "one audit entry (`record_event`, as a record view writes it) to a fresh, migrated "
        "database. All writers extend one hash chain under one advisory lock, so concurrent "
        "writers wait for each other; the rate counts every writer's actions over the wall "
        "time of the whole batch.",
        "",
        "| writers (processes) | actions | seconds | audited actions per second |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['writers']} | {r['actions']:,} | {r['seconds']:.2f} | {r['rate']:,.0f} |"
        )
    lines += [
        "",
        f"- Run {ran_at} on {host}. Afterwards `verify_chain` (the check behind "
        f"`tutela audit verify`) found all {entries:,} entries intact. Each action commits on "
        "its own, so each waits for one write-ahead log flush. The machine was shared with "
        "other engineers' tests and benchmarks, so the rates are lower and noisier than on an "
        "idle host.",
        "- Rerun: `.venv/bin/python benchmarks/audit_bench.py` (options: `--actions N`, "
        "`--writers 1 4 8`).",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    page = PAGE.read_text()
    if START in page:
        before, rest = page.split(START, 1)
        after = rest.split(END, 1)[1]
        page = before + text + after
    else:
        page = page.rstrip("\n") + "\n\n" + text + "\n"
    PAGE.write_text(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=2000, help="Actions per batch (2000)")
    parser.add_argument(
        "--writers", type=int, nargs="+", default=[1, 4, 8], help="Writer counts (1 4 8)"
    )
    args = parser.parse_args()

    log(f"Creating and migrating {DATABASE}...")
    create_database()
    try:
        setup_django()
        results = []
        for writers in args.writers:
            result = run_batch(writers, args.actions)
            log(f"{writers} writers: {result['rate']:,.0f} audited actions/s")
            results.append(result)

        from tutela.audit.log import verify_chain

        verified = verify_chain()
        if verified.first_broken is not None:
            raise SystemExit(f"The chain is broken at #{verified.first_broken.id}.")
        from django.db import connections

        connections.close_all()
        ran_at = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        write_section(section(results, verified.checked, ran_at, machine()))
        log(f"Wrote the audit-rate section of {PAGE.name}.")
    finally:
        drop_database()


if __name__ == "__main__":
    main()
