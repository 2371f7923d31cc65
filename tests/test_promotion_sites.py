"""Two real Tutela sites: demo and production, each with its own database and gunicorn server.

The demo site changes its configuration and pushes a signed snapshot over HTTPS (a certificate
authority made here with trustme) to production, which plans, approves, applies and rolls back.
Every step runs through the `tutela` commands in child processes, as an administrator would.
"""

import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trustme

from tests.conftest import admin_conninfo, database_url, ensure_template

ROOT = Path(__file__).resolve().parent.parent
PRIMERO = ROOT.parent / "shared" / "data" / "primero" / "cp-configuration-v2.15.json"
SERVER_READY_SECONDS = 60


@dataclass
class Site:
    """One Tutela site: a database, a folder with its secrets file, and its commands."""

    name: str
    database: str
    folder: Path
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tutela.settings",
            "DATABASE_URL": database_url(self.database),
            "TUTELA_SECRETS_FILE": str(self.folder / "secrets.toml"),
            "TUTELA_VAR_DIR": str(self.folder / "var"),
            "TUTELA_MEDIA_ROOT": str(self.folder / "media"),
            "TUTELA_MODE": "local",
            "TUTELA_SECURE_COOKIES": "false",
            "TUTELA_ALLOWED_HOSTS": "127.0.0.1",
            "TUTELA_LOG_LEVEL": "WARNING",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tutela {' '.join(args)} failed:\n{result.stderr}")
        return result

    def python(self, code: str) -> str:
        return self.run("shell", "-c", code).stdout.strip()

    def query(self, sql: str, params: list[Any] | None = None) -> Any:
        with psycopg.connect(**{**admin_conninfo(), "dbname": self.database}) as conn:
            row = conn.execute(sql, params or []).fetchone()
            return row[0] if row else None

    def configuration_id(self) -> str:
        return self.python(
            "from tutela.promotion.content import current_id; print(current_id())"
        ).splitlines()[-1]

    def start_server(self, port: int, certificate: Path, key: Path) -> None:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "tutela.wsgi:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"),
                *("--certfile", str(certificate), "--keyfile", str(key)),
                *("--log-level", "warning"),
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.servers.append(server)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_health(url: str, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + SERVER_READY_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", context=context, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise AssertionError(f"{url}/health did not respond within {SERVER_READY_SECONDS} s")


def make_site(name: str, tmp_path: Path, worker_id: str) -> Site:
    database = f"tutela_promo_{worker_id}_{os.getpid()}_{name}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(**admin_conninfo()) as admin:
        template = ensure_template(admin)
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    folder = tmp_path / name
    folder.mkdir()
    secrets_file = folder / "secrets.toml"
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(f'secret_key = "{secrets.token_urlsafe(50)}"\n')
    return Site(name, database, folder)


@pytest.fixture
def sites(tmp_path: Path, worker_id: str) -> Iterator[tuple[Site, Site]]:
    demo = make_site("demo", tmp_path, worker_id)
    production = make_site("production", tmp_path, worker_id)
    yield demo, production
    for site in (demo, production):
        for server in site.servers:
            server.terminate()
            server.wait(timeout=30)
    with psycopg.connect(**admin_conninfo()) as admin:
        for site in (demo, production):
            admin.execute(f'DROP DATABASE IF EXISTS "{site.database}" WITH (FORCE)')


def prepare_demo(demo: Site) -> str:
    """Initialise the demo site with the default configuration; return its public key."""
    demo.run("config", "load-default")
    demo.run("site", "init", "--role", "demo", "--name", "training")
    return demo.run("site", "keygen").stdout.strip()


def prepare_production(production: Site, demo_public_key: str, cases: int = 40) -> str:
    """Default configuration, synthetic cases, two caseworkers, an admin; return the token."""
    production.run("config", "load-default")
    if cases:
        production.run("seed", "synthetic", "--cases", str(cases), "--seed", "7")
    production.python(
        "from tutela.access.models import Role, User\n"
        "role = Role.objects.get(unique_id='caseworker')\n"
        "for name in ('field-1', 'field-2'):\n"
        "    User.objects.create_user(name, role=role)\n"
        "User.objects.create_superuser('ada', password='correct horse battery')\n"
    )
    production.run("site", "init", "--role", "production", "--name", "country")
    key_id = production.run("site", "trust", "demo", demo_public_key).stdout.split()[-1].rstrip(".")
    return production.run("site", "link", "demo-link", "--signer", key_id).stdout.strip()


def pick_removed_field(production: Site) -> str:
    """Return a top-level text field of the case form that production records hold."""
    for name in ("name_nickname", "caregiver_phone", "protection_concerns_other", "phone"):
        if production.query("SELECT count(*) FROM records_record WHERE data ? %s", [name]):
            return name
    raise AssertionError("no candidate field holds data in the synthetic cases")


def change_demo(demo: Site, removed_field: str) -> dict[str, Any]:
    """Change a form, add a lookup option, remove a field and narrow the caseworker role."""
    document = json.loads(demo.run("config", "dump").stdout)
    case = next(t for t in document["record_types"] if t["unique_id"] == "case")
    for section in case["form_sections"]:
        section["fields"] = [f for f in section["fields"] if f["name"] != removed_field]
        for item in section["fields"]:
            if item["name"] == "name_first":
                item["label"] = {**item["label"], "en": "Given name"}
                item["help"] = {"en": "As the child says it."}
    lookup = next(item for item in document["lookups"] if item["unique_id"] == "lookup-risk-level")
    lookup["options"].append({"id": "critical", "label": {"en": "Critical"}})
    role = next(item for item in document["roles"] if item["unique_id"] == "caseworker")
    role["permissions"]["case"] = [a for a in role["permissions"]["case"] if a != "export_pdf"]
    path = demo.folder / "changed.json"
    path.write_text(json.dumps(document))
    demo.run("config", "load", str(path))
    return document


def plan_json(production: Site, snapshot_id: str, command: str = "plan") -> dict[str, Any]:
    if command == "rollback":
        production.run("config", "rollback", snapshot_id)
        output = production.run("config", "plan", snapshot_id, "--json").stdout
    else:
        output = production.run("config", "plan", snapshot_id, "--json").stdout
    plan: dict[str, Any] = json.loads(output)
    return plan


def approve_and_apply(production: Site, plan: dict[str, Any]) -> None:
    warnings = sorted({f["code"] for f in plan["findings"] if f["severity"] == "warning"})
    acknowledge = [arg for code in warnings for arg in ("--acknowledge", code)]
    production.run(
        "config",
        "approve",
        str(plan["plan"]),
        "--user",
        "ada",
        "--comment",
        "reviewed",
        *acknowledge,
    )
    production.run("config", "apply", str(plan["plan"]), "--user", "ada")


def test_two_sites_promote_over_https(sites: tuple[Site, Site], tmp_path: Path) -> None:
    demo, production = sites
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "server.pem", tmp_path / "server.key"
    certificate.private_key_pem.write_to_path(str(key))
    certificate.cert_chain_pems[0].write_to_path(str(chain))
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(cafile=str(ca_file))

    token = prepare_production(production, prepare_demo(demo))
    production_port, demo_port = free_port(), free_port()
    production.start_server(production_port, chain, key)
    demo.start_server(demo_port, chain, key)
    production_url = f"https://127.0.0.1:{production_port}"
    wait_for_health(production_url, context)
    wait_for_health(f"https://127.0.0.1:{demo_port}", context)

    original = production.configuration_id()
    removed = pick_removed_field(production)
    holding = production.query("SELECT count(*) FROM records_record WHERE data ? %s", [removed])
    active_caseworkers = production.query(
        "SELECT count(*) FROM access_user u JOIN access_role r ON r.id = u.role_id "
        "WHERE u.is_active AND r.unique_id = 'caseworker'"
    )
    change_demo(demo, removed)
    snapshot_id = demo.run("config", "snapshot", "--label", "new intake form").stdout.strip()

    token_file = demo.folder / "token"
    token_file.write_text(token)
    pushed = demo.run(
        "config",
        "push",
        snapshot_id[:12],
        "--to",
        production_url,
        "--token-file",
        str(token_file),
        "--ca-file",
        str(ca_file),
    )
    assert "pending review" in pushed.stdout
    push_tampered(demo, production, production_url, token, context, snapshot_id)

    plan = plan_json(production, snapshot_id[:12])
    found = {(f["code"], f["item"]): f["count"] for f in plan["findings"]}
    assert found[("field_removed_with_data", f"case.{removed}")] == holding
    assert found[("role_access_removed", "caseworker")] == active_caseworkers
    assert plan["errors"] == 0
    changes = {(c["kind"], c["id"]): c for c in plan["changes"]}
    assert changes[("option", "lookup-risk-level:critical")]["change"] == "added"
    assert set(changes[("field", "case.name_first")]["properties"]) == {"help", "label"}

    approve_and_apply(production, plan)
    assert production.configuration_id() == snapshot_id
    kept = production.query("SELECT count(*) FROM records_record WHERE data ? %s", [removed])
    assert kept == holding
    archived = production.query(
        "SELECT archived FROM configuration_field WHERE unique_id = %s", [f"case.{removed}"]
    )
    assert archived is True

    rollback = plan_json(production, original[:12])
    assert rollback["rollback"] is True
    approve_and_apply(production, rollback)
    assert production.configuration_id() == original

    history = production.run("config", "history").stdout
    assert "rolled_back" in history
    statuses = production.query("SELECT string_agg(status, ',' ORDER BY id) FROM promotion_bundle")
    assert statuses == "rolled_back,rejected"
    sent = demo.query("SELECT status FROM promotion_bundle WHERE direction = 'sent'")
    assert sent == "sent"


def push_tampered(
    demo: Site, production: Site, url: str, token: str, context: ssl.SSLContext, snapshot_id: str
) -> None:
    """POST the snapshot with its content changed after signing, then with a wrong token."""
    before = production.configuration_id()
    path = demo.folder / "tampered.json"
    demo.run("config", "export", snapshot_id, str(path))
    bundle = json.loads(path.read_text())
    bundle["content"]["configuration"]["lookups"][0]["options"][0]["id"] = "changed"
    request = urllib.request.Request(  # noqa: S310
        f"{url}/api/v1/promotions",
        data=json.dumps(bundle).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Promotion {token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, context=context, timeout=30)  # noqa: S310
    assert error.value.code == 422
    answer = json.loads(error.value.read())
    error.value.close()
    assert answer["error"]["details"]["reason"] == "hash_mismatch"
    assert production.configuration_id() == before
    reason = production.query("SELECT reason_code FROM promotion_bundle WHERE status = 'rejected'")
    assert reason == "hash_mismatch"

    unauthorised = urllib.request.Request(  # noqa: S310
        f"{url}/api/v1/promotions",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Promotion tpl_x_y"},
    )
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(unauthorised, context=context, timeout=30)  # noqa: S310
    assert denied.value.code == 401
    denied.value.close()


def test_sigkill_during_apply_keeps_configuration(sites: tuple[Site, Site]) -> None:
    """Kill `config apply` while it waits inside its transaction, after loading the snapshot."""
    demo, production = sites
    prepare_production(production, prepare_demo(demo), cases=0)
    removed = "name_nickname"
    change_demo(demo, removed)
    snapshot_id = demo.run("config", "snapshot").stdout.strip()
    bundle_file = demo.folder / "bundle.json"
    demo.run("config", "export", snapshot_id, str(bundle_file))
    production.run("config", "receive", str(bundle_file))
    before = production.configuration_id()
    plan = plan_json(production, snapshot_id[:12])
    warnings = sorted({f["code"] for f in plan["findings"] if f["severity"] == "warning"})
    production.run(
        "config",
        "approve",
        str(plan["plan"]),
        "--user",
        "ada",
        "--comment",
        "ok",
        *[arg for code in warnings for arg in ("--acknowledge", code)],
    )

    # Hold the bundle's row: apply updates it as its last step, after loading the snapshot.
    with psycopg.connect(**{**admin_conninfo(), "dbname": production.database}) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT id FROM promotion_bundle FOR UPDATE")
        apply = subprocess.Popen(
            [sys.executable, "-m", "django", "config", "apply", str(plan["plan"]), "--user", "ada"],
            env=production.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        backend = wait_for_blocked_update(production, apply)
        advisory_locks = production.query(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory'", [backend]
        )
        assert advisory_locks >= 1
        apply.send_signal(signal.SIGKILL)
        apply.communicate(timeout=30)
        blocker.execute("ROLLBACK")
    wait_for_backend_gone(production, backend)

    assert apply.returncode == -signal.SIGKILL
    assert production.configuration_id() == before
    archived = production.query(
        "SELECT archived FROM configuration_field WHERE unique_id = %s", [f"case.{removed}"]
    )
    assert archived is False
    status = production.query("SELECT status FROM promotion_plan WHERE id = %s", [plan["plan"]])
    assert status == "approved"

    production.run("config", "apply", str(plan["plan"]), "--user", "ada")
    assert production.configuration_id() == snapshot_id


def wait_for_blocked_update(site: Site, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pid = site.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE \"promotion_bundle\"%%'",
            [site.database],
        )
        if pid:
            return int(pid)
        if process.poll() is not None:
            raise AssertionError(
                f"apply ended early: {process.stderr.read().decode() if process.stderr else ''}"
            )
        time.sleep(0.1)
    raise AssertionError("apply never reached the bundle update")


def wait_for_backend_gone(site: Site, pid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not site.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]):
            return
        time.sleep(0.1)
    raise AssertionError(f"the killed apply's database session {pid} did not end")


@pytest.mark.skipif(not PRIMERO.exists(), reason=f"{PRIMERO} is absent")
def test_primero_configuration_promotes(sites: tuple[Site, Site]) -> None:
    """Import Primero's configuration on demo, carry it as a file, apply it on production."""
    demo, production = sites
    demo.run("site", "init", "--role", "demo", "--name", "training")
    public_key = demo.run("site", "keygen").stdout.strip()
    demo.run("config", "import-primero", str(PRIMERO))
    snapshot_id = demo.run("config", "snapshot", "--label", "primero").stdout.strip()
    bundle_file = demo.folder / "primero-bundle.json"
    demo.run("config", "export", snapshot_id, str(bundle_file))

    production.run("config", "load-default")
    production.run("seed", "synthetic", "--cases", "10")
    production.python(
        "from tutela.access.models import User\n"
        "User.objects.create_superuser('ada', password='correct horse battery')\n"
    )
    production.run("site", "init", "--role", "production", "--name", "country")
    production.run("site", "trust", "demo", public_key)
    before = production.configuration_id()
    production.run("config", "receive", str(bundle_file))
    plan = plan_json(production, snapshot_id[:12])
    assert plan["errors"] == 0, plan["findings"]
    approve_and_apply(production, plan)
    assert production.configuration_id() == snapshot_id
    records = production.query("SELECT count(*) FROM records_record")
    assert records == 10
    assert before != snapshot_id
