"""The `tutela` command: Django's management commands, with the embedded database as default.

Without DATABASE_URL, the command starts (or attaches to) the private PostgreSQL under var/
and points Django at it, so that every subcommand works on a fresh clone.
"""

import os
import secrets
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Set for `tutela site keygen`, which creates the secrets file when it is missing.
SECRETS_FILE_MAY_BE_MISSING = "TUTELA_SECRETS_FILE_MAY_BE_MISSING"


def var_dir() -> Path:
    return Path(os.environ.get("TUTELA_VAR_DIR", Path.cwd() / "var")).resolve()


def ensure_secret_key(folder: Path) -> None:
    """Write a random Django secret key under var/ for the embedded setup, once."""
    key_file = folder / "secret_key"
    if key_file.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(secrets.token_urlsafe(50))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutela.settings")
    if sys.argv[1:2] == ["quickstart"]:
        # The quick start serves plain HTTP on 127.0.0.1, which production mode rejects.
        os.environ.setdefault("TUTELA_MODE", "local")
    if sys.argv[1:3] == ["site", "keygen"]:
        # keygen creates the secrets file, so settings must not refuse to load without it.
        os.environ[SECRETS_FILE_MAY_BE_MISSING] = "1"

    try:
        run(sys.argv[1:])
    except ImproperlyConfigured as e:
        # A setup mistake, not a bug: the message says what to fix, a traceback would bury it.
        print(e, file=sys.stderr)
        sys.exit(2)


def run(arguments: list[str]) -> None:

    server = None
    if not os.environ.get("DATABASE_URL") and not os.environ.get("DATABASE_URL_FILE"):
        from tutela.lib import embedded_postgres

        folder = var_dir()
        os.environ["TUTELA_VAR_DIR"] = str(folder)
        ensure_secret_key(folder)
        # Encryption at rest for the embedded setup: master and index keys under var/.
        from tutela.encryption.keyring import ensure_keys_file

        ensure_keys_file(folder / "keys.toml")
        server = embedded_postgres.start(folder / "postgres")
        embedded_postgres.ensure_database(server)
        os.environ["DATABASE_URL"] = embedded_postgres.database_url(server)
        os.environ["TUTELA_EMBEDDED_POSTGRES"] = "1"

    from django.core.management import execute_from_command_line

    # The server handle must stay referenced until the command ends; pgserver stops it at exit
    # once no other process uses it.
    try:
        execute_from_command_line(["tutela", *arguments])
    finally:
        del server


if __name__ == "__main__":
    main()
