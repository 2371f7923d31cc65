"""Test harness: real PostgreSQL, a migrated template database cloned per worker, a cast of users.

The template's name carries a hash of every migration file, so it is built once and reused
until a migration changes. Each pytest-xdist worker gets its own copy made with
`CREATE DATABASE ... TEMPLATE`, which takes well under a second.
"""

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connections

# Playwright fixtures (chromium, page) for the tests marked `browser`; age keys, scratch
# databases and backup settings for the backup tests.
pytest_plugins = ["tests.browser", "tests.backup_support"]

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "tutela"
TEMPLATE_LOCK = 7_410_900  # advisory lock key serialising template creation across workers


def migrations_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(SRC.glob("*/migrations/*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def admin_conninfo() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }


def database_url(name: str) -> str:
    base = os.environ["DATABASE_URL"]
    prefix, _, query = base.partition("?")
    prefix = prefix.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


def ensure_template(admin: psycopg.Connection[Any]) -> str:
    name = f"tutela_template_{migrations_hash()}"
    admin.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK])
    try:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return name
        building = f"{name}_building"
        admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{building}"')
        env = {**os.environ, "DATABASE_URL": database_url(building)}
        env["DJANGO_SETTINGS_MODULE"] = "tutela.settings"
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
            env=env,
            check=True,
        )
        # Renaming only after a complete migration means a killed run never leaves a
        # half-migrated template behind under the final name.
        admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        return name
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", [TEMPLATE_LOCK])


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: Any, worker_id: str) -> Iterator[None]:
    test_name = f"tutela_test_{worker_id}_{os.getpid()}"
    with psycopg.connect(**admin_conninfo()) as admin:
        template = ensure_template(admin)
        admin.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{test_name}" TEMPLATE "{template}"')
        # Transactional tests empty every table with TRUNCATE between tests; the audit table
        # rejects TRUNCATE unless the database allows it, as only test databases do.
        admin.execute(f'ALTER DATABASE "{test_name}" SET tutela.audit_allow_truncate = on')

    settings.DATABASES["default"]["NAME"] = test_name
    connections["default"].settings_dict["NAME"] = test_name
    connections["default"].close()
    yield

    connections.close_all()
    with psycopg.connect(**admin_conninfo()) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')


SAMPLE_LOCATIONS = """Country,Country code,Region,Region code,District,District code
#adm0+name,#adm0+code,#adm1+name,#adm1+code,#adm2+name,#adm2+code
Utopia,UT,North,UT01,Hill district,UT0101
Utopia,UT,North,UT01,Lake district,UT0102
Utopia,UT,South,UT02,Coast district,UT0201
"""


@pytest.fixture
def sample_config(db: None) -> None:
    """Load the small test configuration and a three-district location tree."""
    from tests.sample_configuration import sample
    from tutela.configuration.loading import load_configuration
    from tutela.configuration.locations import parse_locations, save_locations

    load_configuration(sample())
    save_locations(parse_locations(SAMPLE_LOCATIONS))


@pytest.fixture
def agency(db: None) -> Any:
    from tutela.access.models import Agency

    return Agency.objects.create(unique_id="agency-one", name={"en": "Agency One"})


@pytest.fixture
def roles(db: None) -> dict[str, Any]:
    """The default configuration's roles (caseworker, manager, administrator, ...) by id."""
    from tutela.access.synthetic import ensure_default_roles

    return ensure_default_roles()


@pytest.fixture
def team(agency: Any) -> Any:
    """User group one, of agency one."""
    from tutela.access.models import UserGroup

    group = UserGroup.objects.create(unique_id="team-one", name={"en": "Team One"})
    group.agencies.add(agency)
    return group


@pytest.fixture
def caseworker(agency: Any, roles: dict[str, Any], team: Any) -> Any:
    """Amina, a caseworker of agency one in team one: she sees the records she owns."""
    from tutela.access.models import User

    user = User.objects.create_user(
        "amina", password="correct horse battery", agency=agency, role=roles["caseworker"]
    )
    user.user_groups.add(team)
    return user


@pytest.fixture
def colleague(agency: Any, roles: dict[str, Any], team: Any) -> Any:
    """Bruno, another caseworker of agency one in team one."""
    from tutela.access.models import User

    user = User.objects.create_user(
        "bruno", password="correct horse battery", agency=agency, role=roles["caseworker"]
    )
    user.user_groups.add(team)
    return user


@pytest.fixture
def administrator(agency: Any, roles: dict[str, Any]) -> Any:
    """Ada, an administrator: every permission, every record."""
    from tutela.access.models import User

    return User.objects.create_user(
        "ada", password="correct horse battery", agency=agency, role=roles["administrator"]
    )


@pytest.fixture(autouse=True)
def fresh_data_keys() -> None:
    """Drop the data keys cached by earlier tests, whose rows a rollback or TRUNCATE removed."""
    from tutela.encryption.envelope import forget_cached_keys

    forget_cached_keys()


def mark_mfa_enrolled(client: Any) -> None:
    """Mark the client's session as having passed MFA, as signing in with a second factor
    does, for tests of users whose role requires MFA and that are not about MFA."""
    session = client.session
    # The session key of tutela.signin.mfa.ENROLLED_SESSION_KEY.
    session["tutela_mfa_enrolled"] = True
    session.save()


def signed_in_client(user: Any) -> Any:
    """Return a test client signed in as `user`, MFA included."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    mark_mfa_enrolled(client)
    return client


@pytest.fixture(autouse=True)
def english_by_default() -> Iterator[None]:
    """Start every test in English, whatever language an earlier test left active."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()
