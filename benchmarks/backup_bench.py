#!/usr/bin/env python3
"""Time `tutela backup create` and `tutela restore` beside plain pg_dump, pg_restore and tar.

For each caseload size the script prepares (or reuses) a seeded database
`tutela_backupbench_<cases>` on the machine's PostgreSQL and a folder of synthetic documents
(random bytes, so incompressible like photos). Then, each step timed with its peak memory
(the sum of the resident memory of the step's process tree, sampled every 50 ms):

1. the baseline: `pg_dump -Fc` to a file, then `tar -cf` of the documents;
2. `tutela backup create` (encrypted with age to one recipient);
3. a second, incremental backup after 1% of the cases and 1% of the documents changed;
4. the baseline restore: `pg_restore` into an empty database, then `tar -xf`;
5. `tutela restore` into an empty database and folder.

Results go to benchmarks/backup_results.json, one entry per size, and the section between
the backup-bench markers in BENCHMARKS.md is rewritten from all entries.

    .venv/bin/python benchmarks/backup_bench.py --cases 100000 --documents-gb 2
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import database as bench_database

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "output"
WORK = OUTPUT / "backup"
PAGE = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "benchmarks" / "backup_results.json"
TUTELA = Path(sys.executable).parent / "tutela"
SERVER = "postgresql://postgres@127.0.0.1:5432"
START = "<!-- backup-bench:start -->"
END = "<!-- backup-bench:end -->"
DOCUMENT_MEAN_BYTES = 100_000


def log(text: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}", flush=True)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def recreate(database: str) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop(database: str) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def environment(database: str, **extra: str) -> dict[str, str]:
    var = WORK / "var"
    var.mkdir(parents=True, exist_ok=True)
    key = var / "secret_key"
    if not key.exists():
        key.write_text("backup-benchmark-only-" + "k" * 40)
    return {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{database}",
        "TUTELA_VAR_DIR": str(var),
        # Plain HTTP on loopback: the production-mode TLS checks would stop every command.
        "TUTELA_MODE": "local",
        "DJANGO_SETTINGS_MODULE": "tutela.settings",
        **extra,
    }


def run(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `command`; return its wall time and the peak memory of its process tree."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {process.returncode}")
    return {"seconds": round(seconds, 2), "peak_mb": round(peak / 1e6, 1)}


def count_cases(database: str) -> int:
    try:
        with psycopg.connect(f"{SERVER}/{database}") as conn:
            row = conn.execute("SELECT count(*) FROM records_record").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return -1


def prepare_database(cases: int) -> str:
    database = f"tutela_backupbench_{cases}"
    if count_cases(database) == cases:
        log(f"{database}: ready with {cases:,} cases")
        return database
    # The latency benchmark's database of the same size, when seeded, is copied: at 1,000,000
    # cases that takes minutes where seeding takes most of an hour.
    seeded = bench_database.database_name(cases)
    if bench_database.ready(seeded, cases):
        log(f"{database}: copying {seeded}")
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{seeded}"')
        subprocess.run(
            [str(TUTELA), "migrate", "-v", "0"], env=environment(database), cwd=ROOT, check=True
        )
        return database
    log(f"{database}: creating and seeding {cases:,} cases")
    recreate(database)
    env = environment(database)
    for args in (
        ["migrate", "-v", "0"],
        ["config", "load-default"],
        ["seed", "synthetic", "--cases", str(cases)],
    ):
        subprocess.run([str(TUTELA), *args], env=env, cwd=ROOT, check=True)
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return database


def prepare_documents(folder: Path, total_bytes: int) -> tuple[int, int]:
    """Synthetic documents totalling about `total_bytes`; reused when already there."""
    marker = folder.parent / f"{folder.name}.json"
    if marker.exists():
        known = json.loads(marker.read_text())
        if known["target_bytes"] == total_bytes:
            return known["count"], known["bytes"]
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(1)
    written = count = 0
    while written < total_bytes:
        size = max(1000, int(rng.expovariate(1 / DOCUMENT_MEAN_BYTES)))
        path = folder / f"cases/{count % 1000:03d}/document-{count}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        written += size
        count += 1
    marker.write_text(json.dumps({"target_bytes": total_bytes, "count": count, "bytes": written}))
    return count, written


def pg_bin() -> Path:
    with admin() as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    major = int(row[0]) // 10000 if row else 15
    return Path(f"/usr/lib/postgresql/{major}/bin")


def change_one_percent(database: str, documents: Path, cases: int) -> None:
    """Touch 1% of the cases (a new version each) and rewrite 1% of the documents."""
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute(
            "UPDATE records_record"
            " SET data = data || jsonb_build_object('bench_note', now()::text),"
            " version = version + 1, updated_at = now()"
            " WHERE id IN (SELECT id FROM records_record ORDER BY id LIMIT %s)",
            [max(1, cases // 100)],
        )
    files = sorted(documents.rglob("*.bin"))
    for path in files[::100]:
        path.write_bytes(os.urandom(path.stat().st_size))


def folder_bytes(folder: Path) -> int:
    seen: set[int] = set()
    total = 0
    for path in folder.rglob("*"):
        stat = path.stat()
        if path.is_file() and stat.st_ino not in seen:
            seen.add(stat.st_ino)
            total += stat.st_size
    return total


def bench(cases: int, documents_gb: float, *, incremental: bool = True) -> dict[str, Any]:
    source = prepare_database(cases)
    media = WORK / f"media-{documents_gb:g}gb"
    doc_count, doc_bytes = prepare_documents(media, int(documents_gb * 1e9))
    log(f"{doc_count:,} documents, {doc_bytes / 1e9:.2f} GB")
    bindir = pg_bin()
    scratch = WORK / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    keys = scratch / "keys"
    keys.mkdir()
    identity = subprocess.run(
        [sys.executable, "-c", "import pyrage; print(pyrage.x25519.Identity.generate())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (keys / "backup.key").write_text(identity + "\n")
    public = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import pyrage; print(pyrage.x25519.Identity.from_str({identity!r}).to_public())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    env = environment(
        source, TUTELA_BACKUP_DIR=str(scratch / "backups"), TUTELA_MEDIA_ROOT=str(media)
    )
    pg_env = {**os.environ, "PGHOST": "127.0.0.1", "PGUSER": "postgres"}
    results: dict[str, Any] = {"cases": cases, "documents": doc_count, "document_bytes": doc_bytes}

    log("baseline: pg_dump -Fc")
    results["pg_dump"] = run(
        [str(bindir / "pg_dump"), "-Fc", "-f", str(scratch / "plain.dump"), source], pg_env
    )
    results["dump_bytes"] = (scratch / "plain.dump").stat().st_size
    log("baseline: tar -cf")
    results["tar_create"] = run(["tar", "-cf", str(scratch / "plain.tar"), "-C", str(media), "."])

    log("tutela backup create")
    results["backup"] = run([str(TUTELA), "backup", "create", "--recipient", public], env)
    backups = sorted(p.name for p in (scratch / "backups").iterdir() if p.name[0].isdigit())
    results["backup_bytes"] = folder_bytes(scratch / "backups" / backups[-1])

    log("baseline restore: pg_restore, tar -xf")
    plain_target = f"tutela_backupbench_plain_{cases}"
    recreate(plain_target)
    results["pg_restore"] = run(
        [str(bindir / "pg_restore"), "-d", plain_target, str(scratch / "plain.dump")], pg_env
    )
    drop(plain_target)
    (scratch / "untar").mkdir()
    results["tar_extract"] = run(
        ["tar", "-xf", str(scratch / "plain.tar"), "-C", str(scratch / "untar")]
    )
    shutil.rmtree(scratch / "untar")

    log("tutela restore")
    target = f"tutela_backupbench_restore_{cases}"
    drop(target)
    results["restore"] = run(
        [
            *(str(TUTELA), "restore", backups[-1], "--identity", str(keys / "backup.key")),
            *("--database", target, "--documents", str(scratch / "restored")),
        ],
        env,
    )
    drop(target)
    shutil.rmtree(scratch / "restored")

    if incremental:
        log("change 1% and back up again (incremental)")
        change_one_percent(source, media, cases)
        results["incremental"] = run([str(TUTELA), "backup", "create", "--recipient", public], env)
        backups = sorted(p.name for p in (scratch / "backups").iterdir() if p.name[0].isdigit())
        manifest = json.loads((scratch / "backups" / backups[-1] / "manifest.json").read_text())
        results["incremental_documents"] = manifest["documents"]
        # The marker records unchanged documents; after this run they have changed.
        (media.parent / f"{media.name}.json").unlink()

    results["machine"] = machine()
    results["ran_at"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    shutil.rmtree(scratch)
    return results


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    with admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"PostgreSQL {row[0] if row else '?'}, Python {platform.python_version()}"
    )


def ratio(ours: float, *theirs: float) -> str:
    return f"{ours / sum(theirs):.2f}×"


def section(all_results: list[dict[str, Any]]) -> str:
    lines = [
        START,
        "## Backups and restores",
        "",
        "Measured by `benchmarks/backup_bench.py`: `tutela backup create` (database and "
        "documents, encrypted with age to one recipient) and `tutela restore` (with its hash "
        "checks, record count and audit chain comparison), beside plain `pg_dump -Fc`, "
        "`pg_restore` and `tar` of the same data on the same machine. Documents are random "
        "bytes (incompressible, like photos), about 100 kB each. Peak memory is the sum of "
        "the resident memory of each step's processes. The target is at most 1.3 times the "
        "plain tools' time.",
        "",
        "| cases | documents | step | tutela | plain tools | ratio | tutela peak memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in all_results:
        docs = f"{r['documents']:,} ({r['document_bytes'] / 1e9:.1f} GB)"
        restore_ratio = ratio(
            r["restore"]["seconds"], r["pg_restore"]["seconds"], r["tar_extract"]["seconds"]
        )
        lines.append(
            f"| {r['cases']:,} | {docs} | backup | {r['backup']['seconds']} s | "
            f"{r['pg_dump']['seconds']} s + {r['tar_create']['seconds']} s | "
            f"{ratio(r['backup']['seconds'], r['pg_dump']['seconds'], r['tar_create']['seconds'])}"
            f" | {r['backup']['peak_mb']} MB |"
        )
        lines.append(
            f"| {r['cases']:,} | {docs} | restore | {r['restore']['seconds']} s | "
            f"{r['pg_restore']['seconds']} s + {r['tar_extract']['seconds']} s | "
            f"{restore_ratio} | {r['restore']['peak_mb']} MB |"
        )
        if "incremental" not in r:
            continue
        incremental = r["incremental_documents"]
        lines.append(
            f"| {r['cases']:,} | {docs} | incremental backup after 1% changed "
            f"({incremental['new']:,} documents re-encrypted, {incremental['linked']:,} linked) | "
            f"{r['incremental']['seconds']} s | | | {r['incremental']['peak_mb']} MB |"
        )
    lines += [
        "",
        "The incremental backup re-encrypts only the changed documents and links the rest, but "
        "dumps the whole database again, so its time is mostly pg_dump's.",
    ]
    skipped = [f"{r['cases']:,}" for r in all_results if "incremental" not in r]
    if skipped:
        lines.append(
            f"The incremental step was left out at {', '.join(skipped)} cases "
            "(`--skip-incremental`): it repeats a whole database dump."
        )
    lines.append("")
    for r in all_results:
        lines.append(
            f"- {r['cases']:,} cases, run {r['ran_at']} on {r['machine']}: plain dump "
            f"{r['dump_bytes'] / 1e6:,.0f} MB, Tutela backup {r['backup_bytes'] / 1e6:,.0f} MB."
            + (f" {r['note']}" if r.get("note") else "")
        )
    lines += [END, ""]
    return "\n".join(lines)


def saved_results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_result(results: dict[str, Any]) -> None:
    """Keep `results` in the committed results file, replacing an earlier run of its size."""
    saved = saved_results()
    saved[str(results["cases"])] = results
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")


def write_page() -> None:
    results = sorted(saved_results().values(), key=lambda r: int(r["cases"]))
    text = PAGE.read_text() if PAGE.exists() else "# Benchmarks\n\n"
    block = section(results)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block
    PAGE.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, action="append", default=[])
    parser.add_argument("--documents-gb", type=float, default=2.0)
    parser.add_argument("--note", default="", help="A sentence about the conditions of the run")
    parser.add_argument(
        "--skip-incremental",
        action="store_true",
        help="Leave out the incremental backup after 1%% changed (it takes long at 1,000,000)",
    )
    parser.add_argument(
        "--page-only", action="store_true", help="Rewrite BENCHMARKS.md from the saved results"
    )
    args = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for cases in [] if args.page_only else args.cases:
        results = bench(cases, args.documents_gb, incremental=not args.skip_incremental)
        results["note"] = args.note
        save_result(results)
        log(json.dumps(results))
    write_page()
    log(f"Wrote the backup section of {PAGE.name}")


if __name__ == "__main__":
    main()
