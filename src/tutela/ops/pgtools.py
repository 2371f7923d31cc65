"""The PostgreSQL side of backups: which pg_dump to run, how to reach the server, scratch databases.

Passwords go to the tools in the PGPASSWORD environment variable, never on a command line,
where every user of the host could read them in the process list.
"""

import glob
import logging
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from psycopg import sql

logger = logging.getLogger(__name__)

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
# A restore in progress marks its target with this schema; it goes when the restore completes.
RESTORE_MARKER_SCHEMA = "tutela_restore_incomplete"


class ToolsMissing(Exception):
    pass


@dataclass(frozen=True)
class Server:
    """How to reach the PostgreSQL server of the site, without naming a database."""

    host: str
    port: str
    user: str
    password: str

    def conninfo(self, database: str, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.host or None,
            "port": self.port or None,
            "user": self.user or None,
            "password": self.password or None,
            "dbname": database,
            "connect_timeout": 10,
            **extra,
        }

    def connect(self, database: str, **extra: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.conninfo(database, **extra))

    def tool_env(self, database: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {"PGDATABASE": database, "PGAPPNAME": "tutela-backup", "PGCONNECT_TIMEOUT": "10"}
        )
        for name, value in (
            ("PGHOST", self.host),
            ("PGPORT", self.port),
            ("PGUSER", self.user),
            ("PGPASSWORD", self.password),
        ):
            if value:
                env[name] = value
            else:
                env.pop(name, None)
        return env

    def url(self, database: str) -> str:
        """Return a postgresql:// address for a child process's DATABASE_URL (never logged)."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        host = quote(self.host or "localhost", safe="")
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{credentials}@{host}{port}/{quote(database, safe='')}"


def site_server() -> Server:
    db = settings.DATABASES["default"]
    return Server(
        host=str(db.get("HOST") or ""),
        port=str(db.get("PORT") or ""),
        user=str(db.get("USER") or ""),
        password=str(db.get("PASSWORD") or ""),
    )


def site_database() -> str:
    return str(settings.DATABASES["default"]["NAME"])


def server_major(server: Server, database: str) -> int:
    with server.connect(database) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None  # noqa: S101
    return int(row[0]) // 10000


@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")


def tool_major(bin_dir: Path) -> int | None:
    """Return the major version of the pg_dump in `bin_dir`, or None when it is missing."""
    pg_dump = bin_dir / "pg_dump"
    if not (pg_dump.is_file() and (bin_dir / "pg_restore").is_file()):
        return None
    try:
        output = subprocess.run(  # noqa: S603
            [str(pg_dump), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", output)
    return int(found.group(1)) if found else None


def candidate_dirs() -> list[Path]:
    if settings.TUTELA_PG_BIN_DIR:
        return [Path(settings.TUTELA_PG_BIN_DIR)]
    dirs = [Path(path) for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, as under root; harmless here.
            warnings.simplefilter("ignore")
            from tutela.lib.embedded_postgres import bin_dir

            dirs.append(bin_dir())
    except (ImportError, KeyError, AttributeError):
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return dirs


def find_tools(minimum_major: int) -> PgTools:
    """Pick the pg_dump and pg_restore closest in version to, and not older than, the server.

    A newer pg_dump reads an older server, but its pg_restore writes settings an older server
    does not know (PostgreSQL 18's transaction_timeout on 15), so the closest version wins.
    """
    found = []
    for bin_dir in candidate_dirs():
        major = tool_major(bin_dir)
        if major is not None and major >= minimum_major:
            found.append(PgTools(bin_dir, major))
    if not found:
        raise ToolsMissing(
            f"No pg_dump and pg_restore of PostgreSQL {minimum_major} or newer were found. "
            f"Install postgresql-client-{minimum_major}, or set TUTELA_PG_BIN_DIR to their folder."
        )
    return min(found, key=lambda tools: tools.major)


def database_exists(server: Server, name: str) -> bool:
    with server.connect("postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None


def create_database(server: Server, name: str) -> None:
    with server.connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(server: Server, name: str) -> None:
    with server.connect("postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def user_schemas(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_%%'",
        [list(SYSTEM_SCHEMAS)],
    ).fetchall()
    return [row[0] for row in rows]


def table_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%'",
        [list(SYSTEM_SCHEMAS)],
    ).fetchone()
    return int(row[0]) if row else 0


def restore_marked(conn: psycopg.Connection[Any]) -> bool:
    return RESTORE_MARKER_SCHEMA in user_schemas(conn)


def wipe_and_mark(server: Server, database: str, note: str) -> None:
    """Drop every schema of `database`, then mark it as the target of an unfinished restore.

    One transaction: a crash leaves the database as it was, or emptied and marked.
    """
    with server.connect(database) as conn:
        for schema in user_schemas(conn):
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute("CREATE SCHEMA public")
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(RESTORE_MARKER_SCHEMA)))
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(RESTORE_MARKER_SCHEMA), sql.Literal(note)
            )
        )


def clear_mark(server: Server, database: str) -> None:
    with server.connect(database) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(RESTORE_MARKER_SCHEMA)
            )
        )
