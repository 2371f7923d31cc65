#!/usr/bin/env python3
"""Measure `tutela keys encrypt-records` on cases stored in clear, and estimate 1,000,000.

This is the work a site does when it turns encryption at rest on, or marks more fields
sensitive: every record, its history rows and its derived columns are written again. Steps:

1. Create and migrate a scratch database `tutela_encbench`, load the default configuration and
   seed `--cases` synthetic cases with encryption off (a folder without keys), so the sensitive
   values are stored in clear.
2. Run `tutela keys encrypt-records` with a keys file and time it; check that no plain first
   name is left in the record data.
3. Drop the database and rewrite the section between the encryption-backfill markers in
   BENCHMARKS.md, with the rate and a linear estimate for 1,000,000 cases.

    .venv/bin/python benchmarks/encryption_bench.py              # 5,000 cases
    .venv/bin/python benchmarks/encryption_bench.py --cases 20000
"""

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import database as bench_database

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "BENCHMARKS.md"
DATABASE = "tutela_encbench"
START = "<!-- encryption-backfill:start -->"
END = "<!-- encryption-backfill:end -->"
TARGET_CASES = 1_000_000


def log(text: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}", flush=True)


def run(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    subprocess.run([str(bench_database.TUTELA), *args], env=env, check=True)
    return time.monotonic() - started


def environment(var: Path) -> dict[str, str]:
    env = bench_database.environment(DATABASE)
    (var / "secret_key").write_text((bench_database.VAR / "secret_key").read_text())
    return {**env, "TUTELA_VAR_DIR": str(var)}


def counts(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    cases = conn.execute("SELECT count(*) FROM records_record").fetchone()
    history = conn.execute("SELECT count(*) FROM records_recordhistory").fetchone()
    plain = conn.execute(
        "SELECT count(*) FROM records_record WHERE data->>'name_first' NOT LIKE 'enc1:%%'"
    ).fetchone()
    assert cases and history and plain
    return int(cases[0]), int(history[0]), int(plain[0])


def measure(cases: int, batch: int) -> dict[str, Any]:
    with bench_database.connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    with tempfile.TemporaryDirectory() as plain_var, tempfile.TemporaryDirectory() as keyed_var:
        plain = environment(Path(plain_var))
        run(plain, "migrate", "--no-input", "-v", "0")
        run(plain, "config", "load-default")
        log(f"seeding {cases} cases in clear")
        run(plain, "seed", "synthetic", "--cases", str(cases))

        keyed = environment(Path(keyed_var))
        from tutela.encryption.keyring import add_master_key

        add_master_key(Path(keyed_var) / "keys.toml")
        log("encrypting")
        seconds = run(keyed, "keys", "encrypt-records", "--batch", str(batch))

    with bench_database.connect(DATABASE) as conn:
        total, history, plain_left = counts(conn)
    with bench_database.connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return {
        "cases": total,
        "history_rows": history,
        "plain_left": plain_left,
        "seconds": seconds,
        "batch": batch,
    }


def section(result: dict[str, Any]) -> str:
    rate = result["cases"] / result["seconds"]
    estimate_hours = TARGET_CASES / rate / 3600
    memory = psutil.virtual_memory().total / 2**30
    return "\n".join(
        [
            START,
            "## Encrypting existing records (`tutela keys encrypt-records`)",
            "",
            f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
            "`benchmarks/encryption_bench.py` on "
            f"{platform.machine()}, {os.cpu_count()} cores, {memory:.1f} GiB, "
            "PostgreSQL on the same machine, shared with other work while it ran.",
            "",
            "| cases | history rows | batch | seconds | cases per second | plain left |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {result['cases']:,} | {result['history_rows']:,} | {result['batch']} | "
            f"{result['seconds']:.1f} | {rate:,.0f} | {result['plain_left']} |",
            "",
            f"Estimate for {TARGET_CASES:,} cases at the same rate: about {estimate_hours:.1f} "
            "hours. This is a linear estimate, not a measurement: a larger table has larger "
            "indexes to update. That is why it is a command run in the background, in short "
            "transactions that lock only their own batch, and not a migration.",
            END,
        ]
    )


def write(text: str) -> None:
    page = PAGE.read_text()
    if START in page:
        before, rest = page.split(START, 1)
        after = rest.split(END, 1)[1]
        page = before + text + after
    else:
        page = page.rstrip("\n") + "\n\n" + text + "\n"
    PAGE.write_text(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="Cases to seed and encrypt")
    parser.add_argument("--batch", type=int, default=500, help="Records per transaction")
    options = parser.parse_args()
    result = measure(options.cases, options.batch)
    log(f"{result}")
    write(section(result))


if __name__ == "__main__":
    main()
