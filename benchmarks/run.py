#!/usr/bin/env python3
"""Benchmark Tutela over HTTP at one or more caseload sizes and write BENCHMARKS.md.

For each size, the script prepares (or reuses) a seeded database and starts gunicorn serving
tutela.wsgi with the benchmark URLconf on 127.0.0.1. It signs in simulated caseworkers and
times each operation on the real page and on its floors (raw SQL, minimal Django view) at each
client count. Results go to benchmarks/results.json, one entry per size, and BENCHMARKS.md is
written from all entries.

    make bench BENCH_ARGS="--cases 100000 --cases 1000000"
"""

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import database, load, report

ROOT = database.ROOT
RESULTS = ROOT / "benchmarks" / "results.json"
PAGE = ROOT / "BENCHMARKS.md"
OPERATIONS = ("open", "list", "search", "name", "save")
LAYERS = ("page", "django", "sql")
# Records each client edits in the save benchmark.
OWN_RECORDS = 5


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        type=int,
        action="append",
        help="Caseload size; repeat for several (default 100000)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        action="append",
        help="Concurrent clients; repeat for several (default 1 and 50)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of warm-up per phase")
    parser.add_argument(
        "--max-requests", type=int, default=20000, help="Maximum requests measured per phase"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker")
    parser.add_argument(
        "--operations", default=",".join(OPERATIONS), help="Operations to run, comma-separated"
    )
    parser.add_argument(
        "--tree",
        choices=("head", "working"),
        default="head",
        help="Serve the committed code (a clean export of HEAD) or the working tree",
    )
    return parser.parse_args()


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


# The machine.


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def postgres_facts(name: str) -> dict[str, Any]:
    settings = ("shared_buffers", "work_mem", "effective_cache_size", "jit", "max_wal_size")
    with database.connect(name) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        values = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                [list(settings)],
            ).fetchall()
        )
    return {"version": version[0] if version else "", "settings": values}


def source_tree(kind: str) -> tuple[Path, str]:
    """Return the folder to serve from and a description of the code in it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if kind == "working":
        return ROOT, f"working tree at {commit}"
    tree = database.OUTPUT / f"tree-{commit}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree, f"commit {commit}"


# The workload.


def workload(name: str, cases: int, clients: int) -> tuple[load.Workload, list[load.Caseworker]]:
    """Sample the records, queries and caseworkers the clients use, the same on every run."""
    with database.connect(name) as conn:
        conn.execute("SELECT setseed(0.5)")
        agency = conn.execute(
            "SELECT id FROM access_agency WHERE unique_id = 'synthetic-agency'"
        ).fetchone()
        users = conn.execute(
            "SELECT id, username FROM access_user WHERE username LIKE 'synthetic-caseworker-%%' "
            "ORDER BY username LIMIT %s",
            [clients],
        ).fetchall()
        percent = min(100.0, 400_000 / cases)
        sample = conn.execute(
            "SELECT id::text, data->>'name_first', data->>'name_last', "
            "data->>'national_id_number', display_name FROM records_record "
            "TABLESAMPLE BERNOULLI (%s) REPEATABLE (1) ORDER BY id LIMIT 2000",
            [percent],
        ).fetchall()
        caseworkers = []
        for user_id, username in users:
            own = conn.execute(
                "SELECT id::text FROM records_record WHERE owner_id = %s AND status = 'open' "
                "AND NOT disabled ORDER BY id LIMIT %s",
                [user_id, OWN_RECORDS],
            ).fetchall()
            caseworkers.append(load.Caseworker(username, user_id, [row[0] for row in own]))
    if agency is None or len(caseworkers) < clients:
        raise SystemExit(f"{name} has no synthetic agency or too few synthetic caseworkers.")

    texts, names = queries(sample)
    work = load.Workload(agency[0], [row[0] for row in sample], texts, names)
    return work, caseworkers


def queries(sample: list[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    """Return free-text queries (a given name, a family name, both, or an id number) and fuzzy
    name queries (a full name, half of them with a vowel misspelt)."""
    texts: list[str] = []
    names: list[str] = []
    for index, (_, first, last, id_number, display) in enumerate(sample[:400]):
        kind = index % 10
        if kind < 3 and last:
            texts.append(last.split()[0])
        elif kind < 6:
            texts.append(first)
        elif kind < 9 and last:
            texts.append(f"{first} {last.split()[0]}")
        elif id_number:
            texts.append(id_number)
        else:
            texts.append(first)
        names.append(misspelt(display) if index % 2 else display)
    return texts, names


def misspelt(name: str) -> str:
    swaps = {"e": "i", "i": "e", "o": "u", "u": "o"}
    for index in range(1, len(name)):
        if name[index] in swaps:
            return name[:index] + swaps[name[index]] + name[index + 1 :]
    return name


# The server.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    name: str, tree: Path, workers: int, threads: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run gunicorn on a free port of 127.0.0.1 until the block ends; yield its address."""
    port = free_port()
    env = database.environment(name, settings="benchmarks.settings")
    errors = database.OUTPUT / f"gunicorn-{name}.log"
    command = [
        sys.executable, "-m", "gunicorn", "tutela.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--timeout", "120",
        # Clients stay idle between phases; gunicorn closes idle connections after 2 s by
        # default, and a client reusing one as it closes gets a reset.
        "--keep-alive", "300",
        "--error-logfile", str(errors),
        "--log-level", "warning",
    ]  # fmt: skip
    # Tutela's own log (one line per save, among others) goes to the same file.
    with errors.open("ab") as output:
        process = subprocess.Popen(command, env=env, cwd=tree, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"gunicorn exited with status {process.returncode}; "
                "see its log in benchmarks/output/."
            )
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(
        "gunicorn did not respond on /health within 60 seconds; see its log in benchmarks/output/."
    )


# CPU accounting: the machine is shared, so each phase records how much CPU other programs used.


def busy_seconds() -> float:
    """Return the CPU time all cores have spent on work since boot (not idle, not I/O wait)."""
    with open("/proc/stat") as f:
        fields = [int(value) for value in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(parent) == pid:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """Measures the CPU the benchmark uses (server, its database sessions, load generator)."""

    def __init__(self, server_pid: int, name: str) -> None:
        self.server_pid = server_pid
        self.name = name

    def own_processes(self) -> list[int]:
        with database.connect(self.name) as conn:
            backends = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            ).fetchall()
        return [self.server_pid, *children(self.server_pid), os.getpid()] + [
            row[0] for row in backends
        ]

    def sample(self) -> tuple[float, float]:
        """Return the machine's busy CPU seconds and those of the benchmark's processes."""
        return busy_seconds(), sum(process_seconds(pid) for pid in self.own_processes())


# The phases.


def each_client(clients: list[load.Client], step: Callable[[load.Client], None]) -> None:
    """Run an untimed setup step for every client, trying a failed step once more."""

    def attempt(client: load.Client) -> None:
        try:
            step(client)
        except httpx.TransportError as error:
            log(f"{client.caseworker.username}: setup failed ({error!r}), trying again.")
            step(client)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(attempt, clients))


def signed_in(base: str, caseworkers: list[load.Caseworker]) -> list[load.Client]:
    clients = [load.Client(base, caseworker, database.PASSWORD) for caseworker in caseworkers]
    each_client(clients, load.Client.sign_in)
    return clients


def run_phases(
    args: argparse.Namespace, clients: list[load.Client], work: load.Workload, meter: CpuMeter
) -> list[dict[str, Any]]:
    results = []
    operations = [name.strip() for name in args.operations.split(",") if name.strip()]
    for count in sorted(set(args.clients or [1, 50])):
        group = clients[:count]
        plan = [("empty", "empty")] + [(op, layer) for op in operations for layer in LAYERS]
        for operation, layer in plan:
            get_ready(group, operation, layer)
            phase = load.Phase(
                operation, layer, group, work, args.warmup, args.duration, args.max_requests
            )
            started = time.monotonic()
            machine_before, own_before = meter.sample()
            result = phase.run()
            machine_after, own_after = meter.sample()
            elapsed = time.monotonic() - started
            # A database session that ends during the phase takes its CPU time with it, so
            # this share is approximate and can come out slightly low.
            own = max(0.0, (own_after - own_before) / elapsed)
            others = max(0.0, (machine_after - machine_before) / elapsed - own)
            log(
                f"{count:>3} clients  {operation:<6} {layer:<6} p50 {result.p50_ms:>8.1f} ms  "
                f"p95 {result.p95_ms:>8.1f} ms  {result.per_second:>7.1f}/s  "
                f"errors {result.errors}  cores: benchmark {own:.2f}, others {others:.2f}"
            )
            if result.first_error:
                log(f"    first error: {result.first_error}")
            results.append(
                {**asdict(result), "own_cores": round(own, 2), "other_cores": round(others, 2)}
            )
    return results


def get_ready(clients: list[load.Client], operation: str, layer: str) -> None:
    """Put each client's session in the state the phase starts from (not timed)."""
    if operation == "list" and layer == "page":
        each_client(clients, load.Client.clear_search)
    if operation == "save" and layer == "page":
        each_client(clients, load.Client.read_forms)


def benchmark(args: argparse.Namespace, cases: int, tree: Path, code: str) -> dict[str, Any]:
    prepared = database.prepare(cases, log=log)
    name = prepared.database
    database.set_passwords(name)
    client_count = max(args.clients or [1, 50])
    work, caseworkers = workload(name, cases, client_count)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with server(name, tree, args.workers, args.threads) as (base, process):
        clients = signed_in(base, caseworkers)
        try:
            phases = run_phases(args, clients, work, CpuMeter(process.pid, name))
        finally:
            for client in clients:
                client.close()

    return {
        "cases": cases,
        "date": started,
        "code": code,
        "machine": machine(),
        "postgres": postgres_facts(name),
        "database_size": database.database_size(name),
        "prepared": asdict(prepared),
        "server": {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"},
        "phase": {"warmup": args.warmup, "duration": args.duration},
        "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
        "phases": phases,
    }


def save(results: dict[str, Any]) -> None:
    with tempfile.NamedTemporaryFile("w", dir=RESULTS.parent, delete=False) as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    Path(f.name).replace(RESULTS)
    page = PAGE.read_text() if PAGE.exists() else ""
    PAGE.write_text(report.update_page(page, results))


def main() -> None:
    args = parse_arguments()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    tree, code = source_tree(args.tree)
    database.source = tree
    for cases in args.cases or [100_000]:
        results[str(cases)] = benchmark(args, cases, tree, code)
        save(results)
        log(f"Wrote {PAGE.relative_to(ROOT)} with the results at {cases:,} cases.")


if __name__ == "__main__":
    main()
