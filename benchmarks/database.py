"""Benchmark databases: one per caseload size, created, migrated and seeded once, then reused.

Each database is `tutela_bench_<cases>` on the machine's PostgreSQL at 127.0.0.1:5432, or on
the embedded server under benchmarks/output/ when that one refuses connections. A database counts
as ready when its preparation record (benchmarks/output/<database>.json) exists and its case
count matches, so an interrupted seeding is started again from an empty database.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "benchmarks" / "output"
VAR = OUTPUT / "var"
TUTELA = Path(sys.executable).parent / "tutela"
SEED = 1
# The password of the synthetic caseworkers the load generator signs in as.
PASSWORD = "benchmark-caseworker-password"  # noqa: S105 (benchmark databases only)
# The source tree whose code migrates, seeds and serves the databases (run.py may choose an
# export of HEAD), so that the schema always matches the code being measured.
source = ROOT
SUMMARY = re.compile(r"Wrote ([\d,]+) synthetic cases .* in ([\d,.]+) s \(([\d,]+) cases/s\)")


@dataclass
class Prepared:
    database: str
    cases: int
    seed_seconds: float
    cases_per_second: float
    vacuum_seconds: float
    prepared_at: str


def machine_postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


_embedded: list[Any] = []


def server_url() -> str:
    """Return the postgresql:// address of the server, without a database name."""
    if machine_postgres_answers():
        return "postgresql://postgres@127.0.0.1:5432"
    if not _embedded:
        from tutela.lib import embedded_postgres

        _embedded.append(embedded_postgres.start(OUTPUT / "postgres"))
    from tutela.lib import embedded_postgres

    return embedded_postgres.database_url(_embedded[0], "").rstrip("/")


def database_url(database: str) -> str:
    base = server_url()
    if "?" in base:
        prefix, _, query = base.partition("?")
        return f"{prefix}/{database}?{query}"
    return f"{base}/{database}"


def database_name(cases: int) -> str:
    return f"tutela_bench_{cases}"


def environment(database: str, settings: str = "tutela.settings") -> dict[str, str]:
    """Return the environment for tutela commands and the server on `database`."""
    VAR.mkdir(parents=True, exist_ok=True)
    key = VAR / "secret_key"
    if not key.exists():
        key.touch(mode=0o600)
        key.write_text(secrets.token_urlsafe(50))
    return {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "TUTELA_VAR_DIR": str(VAR),
        # Plain HTTP on loopback: the production-mode TLS checks would stop every command.
        "TUTELA_MODE": "local",
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": f"{source / 'src'}:{source}",
    }


def connect(database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(database_url(database), autocommit=True)


def record_path(database: str) -> Path:
    return OUTPUT / f"{database}.json"


def count_cases(database: str) -> int:
    with connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM records_record").fetchone()
        return int(row[0]) if row else 0


def ready(database: str, cases: int) -> Prepared | None:
    """Return the preparation record of a database that contains `cases` cases, else None."""
    path = record_path(database)
    if not path.exists():
        return None
    prepared = Prepared(**json.loads(path.read_text()))
    try:
        if prepared.cases == cases and count_cases(database) == cases:
            return prepared
    except psycopg.Error:
        pass
    return None


def tutela(database: str, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [str(TUTELA), *args],
        env=environment(database),
        cwd=source,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def prepare(cases: int, log: Any = print) -> Prepared:
    """Create, migrate, configure and seed the database for `cases` cases, unless it is ready."""
    database = database_name(cases)
    existing = ready(database, cases)
    if existing:
        log(f"{database}: ready with {cases:,} cases, seeded {existing.prepared_at}.")
        # The code may have gained migrations since the database was seeded.
        tutela(database, "migrate", "--no-input", "-v", "0")
        give_roles(database)
        return existing

    log(f"{database}: creating, then seeding {cases:,} cases.")
    record_path(database).unlink(missing_ok=True)
    with connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    tutela(database, "migrate", "--no-input", "-v", "0")
    tutela(database, "config", "load-default")

    output = tutela(
        database, "seed", "synthetic", "--cases", str(cases), "--seed", str(SEED), capture=True
    )
    log(output.strip())
    match = SUMMARY.search(output)
    if not match:
        raise RuntimeError(f"The seed command printed no summary: {output!r}")

    give_roles(database)

    # A site that has run a while has had its tables vacuumed: the visibility map lets index-only
    # scans skip the table, as they would in production.
    started = time.monotonic()
    with connect(database) as conn:
        conn.execute("VACUUM (ANALYZE) records_record, records_recordhistory")
    vacuum_seconds = time.monotonic() - started

    prepared = Prepared(
        database=database,
        cases=cases,
        seed_seconds=float(match.group(2).replace(",", "")),
        cases_per_second=float(match.group(3).replace(",", "")),
        vacuum_seconds=round(vacuum_seconds, 1),
        prepared_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    record_path(database).write_text(json.dumps(asdict(prepared), indent=2) + "\n")
    return prepared


# The caseworkers of this benchmark see every case of their agency, so that a search covers a
# million records; the default caseworker role sees only the caseworker's own cases
# (benchmarks/scope_bench.py measures each scope).
GIVE_ROLES = """
from tutela.access.models import Role, User
caseworker = Role.objects.get(unique_id="caseworker")
role, _ = Role.objects.update_or_create(
    unique_id="benchmark-agency-caseworker",
    defaults={
        "name": {"en": "Caseworker who sees the agency's cases (benchmarks only)"},
        "permissions": caseworker.permissions,
        "record_scope": "agency",
        "form_sections": caseworker.form_sections,
        "form_section_default": caseworker.form_section_default,
        "mfa_required": False,
    },
)
User.objects.filter(username__startswith="synthetic-caseworker-").update(role=role)
"""


def give_roles(database: str) -> None:
    """Give the synthetic users roles and groups, then the caseworkers an agency-wide role."""
    tutela(database, "access", "synthetic")
    tutela(database, "shell", "-c", GIVE_ROLES)


def set_passwords(database: str) -> None:
    """Give every synthetic caseworker the benchmark password, hashed once by Django."""
    script = (
        f"from django.contrib.auth.hashers import make_password; print(make_password({PASSWORD!r}))"
    )
    # The shell prints a line about its automatic imports first.
    hashed = tutela(database, "shell", "-c", script, capture=True).strip().splitlines()[-1]
    with connect(database) as conn:
        conn.execute(
            "UPDATE access_user SET password = %s WHERE username LIKE 'synthetic-caseworker-%%'",
            [hashed],
        )


def database_size(database: str) -> dict[str, int]:
    with connect(database) as conn:
        row = conn.execute(
            "SELECT pg_database_size(current_database()), "
            "pg_total_relation_size('records_record'), "
            "pg_total_relation_size('records_recordhistory')"
        ).fetchone()
    assert row is not None
    return {"database": row[0], "records": row[1], "history": row[2]}
