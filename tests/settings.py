"""Settings for the test suite: the machine's PostgreSQL when it answers, else the embedded one.

The test harness (tests/conftest.py) creates a migrated template database once and clones it
for each pytest-xdist worker.
"""

import os
import secrets
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_VAR = ROOT / "test-output" / "var"


def machine_postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def choose_database() -> str:
    if os.environ.get("TUTELA_TEST_DATABASE_URL"):
        return os.environ["TUTELA_TEST_DATABASE_URL"]
    if machine_postgres_answers():
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    from tutela.lib import embedded_postgres

    server = embedded_postgres.start(TEST_VAR / "postgres")
    # Keep the handle for the life of the process; pgserver stops the server at the last exit.
    globals()["_EMBEDDED_SERVER"] = server
    return embedded_postgres.database_url(server, "postgres")


TEST_VAR.mkdir(parents=True, exist_ok=True)
key_file = TEST_VAR / "secret_key"
if not key_file.exists():
    key_file.write_text(secrets.token_urlsafe(50))
# Encryption at rest is on in tests, as in the quick start: a master key and an index key.
from tutela.encryption.keyring import ensure_keys_file  # noqa: E402

ensure_keys_file(TEST_VAR / "keys.toml")
os.environ["TUTELA_VAR_DIR"] = str(TEST_VAR)
# Tests serve plain HTTP on loopback; tests/test_security_checks.py checks production mode.
# Set in the environment, so that the tutela commands that tests start inherit it.
os.environ.setdefault("TUTELA_MODE", "local")
os.environ["DATABASE_URL"] = choose_database()

from tutela.settings import *  # noqa: E402, F403

# Tests hash passwords often; a fast hasher keeps the suite quick. Production uses scrypt.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
