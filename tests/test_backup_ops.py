"""Backup operations: push off-site, prune, the schedule, alerts, status pages and the plan.

The heartbeat goes to an HTTP server on 127.0.0.1 and the failure mail to a local aiosmtpd
server that requires STARTTLS; nothing leaves the machine.
"""

import datetime as dt
import hashlib
import http.server
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.test import Client

from tests.backup_support import Keys, seed_site
from tests.storage_servers import S3Server, s3_server  # noqa: F401 (the fixture)
from tutela.access.models import User
from tutela.ops import status
from tutela.ops.backup import Encryption, create_backup
from tutela.ops.drill import free_port
from tutela.ops.manifest import (
    FORMAT,
    MANIFEST,
    VERIFIED,
    complete_backups,
    list_backups,
    write_manifest,
)
from tutela.ops.prune import prune_backups
from tutela.ops.push import PushFailed, push_backups, rsync_commands

pytestmark = pytest.mark.usefixtures("ops_settings")


def backups_dir(settings: Any) -> Path:
    return Path(settings.TUTELA_BACKUP_DIR)


@pytest.fixture
def two_backups(
    transactional_db: None, sample_config: None, caseworker: Any, colleague: Any, keys: Keys
) -> list[dict[str, Any]]:
    seed_site(caseworker, colleague, cases=2)
    first = create_backup(Encryption([keys.public]))
    storages["default"].save("cases/later.txt", ContentFile(b"added after the first backup"))
    return [first, create_backup(Encryption([keys.public]))]


def test_push_mounted_path_links_and_resumes(
    two_backups: list[dict[str, Any]], tmp_path: Path, settings: Any
) -> None:
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    first, second = two_backups
    result = push_backups(backups_dir(settings), str(offsite))
    assert result.backups == 2
    assert (offsite / second["id"] / MANIFEST).read_bytes() == (
        backups_dir(settings) / second["id"] / MANIFEST
    ).read_bytes()
    blob = next(e["path"] for e in first["files"] if e["path"].startswith("documents/"))
    assert (offsite / first["id"] / blob).stat().st_ino == (
        offsite / second["id"] / blob
    ).stat().st_ino

    again = push_backups(backups_dir(settings), str(offsite))
    assert (again.backups, again.already_there, again.files_copied) == (0, 2, 0)

    # An interrupted push: the manifest (copied last) and one file never arrived.
    (offsite / second["id"] / MANIFEST).unlink()
    (offsite / second["id"] / "database.dump.age").unlink()
    resumed = push_backups(backups_dir(settings), str(offsite))
    assert (resumed.backups, resumed.files_copied) == (1, 1)
    assert (offsite / second["id"] / MANIFEST).exists()
    assert status.summary()["offsite_copy"]["id"] == second["id"]


def test_push_command_audited(two_backups: list[dict[str, Any]], tmp_path: Path) -> None:
    from tutela.audit.models import AuditEntry

    offsite = tmp_path / "offsite"
    offsite.mkdir()
    call_command("backup", "push", "--to", str(offsite))
    entry = AuditEntry.objects.get(action="backup.push")
    assert entry.details == {"target": str(offsite), "backups": 2}


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_push_with_rsync_to_a_local_path(
    two_backups: list[dict[str, Any]], tmp_path: Path, settings: Any
) -> None:
    offsite = tmp_path / "rsync-target"
    offsite.mkdir()
    result = push_backups(backups_dir(settings), f"rsync:{offsite}")
    assert result.backups == 2
    for backup in two_backups:
        assert json.loads((offsite / backup["id"] / MANIFEST).read_text())["id"] == backup["id"]
    assert not (offsite / ".state").exists()
    assert push_backups(backups_dir(settings), f"rsync:{offsite}").backups == 2


def test_rsync_command_sends_manifests_last(tmp_path: Path) -> None:
    from tutela.ops.manifest import BackupFolder

    backups = [BackupFolder("20261201T020000Z", tmp_path / "20261201T020000Z", {})]
    files_pass, manifests_pass = rsync_commands(tmp_path, backups, "backup@offsite.test:/srv/b")
    assert files_pass[files_pass.index("-e") + 1].startswith("ssh -o BatchMode=yes")
    assert "--hard-links" in files_pass
    assert f"--exclude=/*/{MANIFEST}" in files_pass
    assert f"--include=/20261201T020000Z/{MANIFEST}" in manifests_pass
    assert files_pass[-1] == "backup@offsite.test:/srv/b/"


@pytest.fixture
def offsite_s3(request: pytest.FixtureRequest, settings: Any) -> S3Server:
    """A real S3-compatible server (SeaweedFS on loopback) as the push target's account."""
    server: S3Server = request.getfixturevalue("s3_server")
    settings.TUTELA_BACKUP_S3 = {
        "endpoint_url": server.endpoint_url,
        "region_name": "us-east-1",
        "addressing_style": "path",
        "access_key": server.access_key,
        "secret_key": server.secret_key,
    }
    return server


def test_push_to_s3_uploads_resumes_and_skips(
    two_backups: list[dict[str, Any]], settings: Any, offsite_s3: S3Server
) -> None:
    client = offsite_s3.client()
    client.create_bucket(Bucket="tutela-offsite")
    second = two_backups[1]
    target = "s3://tutela-offsite/site-a"

    def read(key: str) -> bytes:
        return bytes(client.get_object(Bucket="tutela-offsite", Key=f"site-a/{key}")["Body"].read())

    result = push_backups(backups_dir(settings), target)
    assert (result.backups, result.already_there) == (2, 0)
    for backup in two_backups:
        for entry in backup["files"]:
            body = read(f"{backup['id']}/{entry['path']}")
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    local_manifest = (backups_dir(settings) / second["id"] / MANIFEST).read_bytes()
    assert read(f"{second['id']}/{MANIFEST}") == local_manifest
    assert status.summary()["offsite_copy"]["id"] == second["id"]

    again = push_backups(backups_dir(settings), target)
    assert (again.backups, again.already_there, again.files_copied) == (0, 2, 0)

    # An interrupted push: the manifest (uploaded last) and one file never arrived.
    for name in (MANIFEST, "database.dump.age"):
        client.delete_object(Bucket="tutela-offsite", Key=f"site-a/{second['id']}/{name}")
    resumed = push_backups(backups_dir(settings), target)
    assert (resumed.backups, resumed.files_copied) == (1, 1)


def test_push_to_s3_names_a_refused_bucket(
    two_backups: list[dict[str, Any]], settings: Any, offsite_s3: S3Server
) -> None:
    with pytest.raises(PushFailed, match="no-such-bucket") as failure:
        push_backups(backups_dir(settings), "s3://no-such-bucket/site")
    assert offsite_s3.secret_key not in str(failure.value)


def fake_backup(root: Path, at: dt.datetime, verified: bool = False) -> str:
    backup_id = at.strftime("%Y%m%dT%H%M%SZ")
    folder = root / backup_id
    folder.mkdir(parents=True)
    write_manifest(folder, {"format": FORMAT, "id": backup_id, "snapshot_at": at.isoformat()})
    if verified:
        (folder / VERIFIED).write_text(json.dumps({"ok": True, "at": at.isoformat()}))
    return backup_id


def test_prune_keeps_generations_and_verified(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    start = dt.datetime(2026, 1, 1, 2, 30, tzinfo=dt.UTC)
    ids = [fake_backup(root, start + dt.timedelta(days=n), verified=n == 3) for n in range(120)]
    (root / "20260601T000000Z").mkdir()  # an interrupted backup

    plan, removed = prune_backups(root, 7, 4, 12, execute=False)
    assert removed == 0
    assert len(list_backups(root)) == 121
    kept = set(plan.keep)
    assert set(ids[-7:]) <= kept
    assert ids[3] in kept  # the newest verified backup, although old
    assert "newest verified" in plan.keep[ids[3]]
    assert ids[30] in kept  # the newest of January 2026 (monthly)
    assert ids[58] in kept  # the newest of February 2026 (monthly)
    assert ids[10] not in kept

    plan, removed = prune_backups(root, 7, 4, 12, execute=True)
    assert removed == len(plan.remove)
    assert sorted(backup.id for backup in list_backups(root)) == sorted(kept)


def test_install_schedule_writes_systemd_units_and_cron(tmp_path: Path) -> None:
    call_command("backup", "install-schedule", "--output", str(tmp_path), "--time", "03:15")
    service = (tmp_path / "tutela-backup.service").read_text()
    assert "backup create" in service
    assert "backup prune --execute" in service
    assert "OnCalendar=*-*-* 03:15:00" in (tmp_path / "tutela-backup.timer").read_text()
    assert (tmp_path / "tutela-backup.cron").read_text().splitlines()[1].startswith("15 3 * * *")


def test_install_schedule_refuses_etc_unless_asked() -> None:
    with pytest.raises(CommandError, match="under /etc"):
        call_command("backup", "install-schedule", "--output", "/etc/systemd/system")


class Heartbeats(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def heartbeat_server() -> Iterator[str]:
    Heartbeats.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Heartbeats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_heartbeat_called_token_not_logged(
    transactional_db: None,
    sample_config: None,
    keys: Keys,
    heartbeat_server: str,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.TUTELA_BACKUP_HEARTBEAT_URL = f"{heartbeat_server}/ping/secret-token-123"
    call_command("backup", "create", "--recipient", keys.public)
    assert len(Heartbeats.received) == 1
    path, body = Heartbeats.received[0]
    assert path == "/ping/secret-token-123"
    assert b"complete" in body
    assert "secret-token-123" not in caplog.text


def test_backup_create_audited(transactional_db: None, sample_config: None, keys: Keys) -> None:
    from tutela.audit.models import AuditEntry

    call_command("backup", "create", "--recipient", keys.public)
    entry = AuditEntry.objects.get(action="backup.create")
    assert entry.actor.startswith("cli:")
    assert entry.details["encrypted"] is True


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Any, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.ssl, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Inbox]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # The client trusts this certificate only, as it would a real CA's.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    yield controller.port, inbox
    controller.stop()


def test_backup_failure_emails_over_starttls(smtp_server: tuple[int, Inbox], settings: Any) -> None:
    port, inbox = smtp_server
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": True, "timeout": 10},
        }
    }
    settings.TUTELA_BACKUP_ALERT_EMAILS = ["it-team@example.org"]
    with pytest.raises(CommandError, match="not an age public key"):
        call_command("backup", "create", "--recipient", "age1notakey")
    assert len(inbox.messages) == 1
    tls, content = inbox.messages[0]
    assert tls
    assert b"backup failed" in content
    assert status.read_status()["failure"]["step"] == "backup"


def test_health_and_the_operations_page_show_backup_status(
    client: Client, caseworker: User, db: None
) -> None:
    status.record("backup", {"id": "20261204T023000Z", "snapshot_at": status.now_iso()})
    health = client.get("/health").json()
    assert health["details"]["backups"]["last_backup"]["id"] == "20261204T023000Z"
    assert health["details"]["backups"]["last_backup"]["fresh"] is True

    client.force_login(caseworker)
    assert client.get("/ops/backups/").status_code == 403
    staff = User.objects.create_user("ops-staff", password="x" * 16, is_staff=True)
    client.force_login(staff)
    page = client.get("/ops/backups/")
    assert page.status_code == 200
    assert "20261204T023000Z" in page.content.decode()


def test_dr_plan_is_filled_in_from_contacts(tmp_path: Path, db: None) -> None:
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(
        'keys_location = "sealed envelope in the programme office safe"\n'
        "rto_hours = 8\n"
        "[[people]]\n"
        'role = "key custodian"\nname = "Key Holder"\ncontact = "+000 555 0100"\n'
    )
    output = tmp_path / "plan.md"
    call_command("dr", "plan", "--output", str(output), "--contacts", str(contacts))
    plan = output.read_text()
    assert "| key custodian |" in plan
    assert "Key Holder" in plan
    assert "sealed envelope in the programme office safe" in plan
    assert "Recovery time objective: 8 h" in plan
    assert "tutela restore ID --identity FILE" in plan


def test_verified_backup_counts_in_complete_backups(
    two_backups: list[dict[str, Any]], settings: Any
) -> None:
    assert [b.id for b in complete_backups(backups_dir(settings))] == [
        backup["id"] for backup in two_backups
    ]


def test_backup_of_missing_database_alerts(
    settings: Any, monkeypatch: pytest.MonkeyPatch, mailoutbox: list[Any]
) -> None:
    from tutela.ops import pgtools

    monkeypatch.setattr(pgtools, "site_database", lambda: "tutela_no_such_database")
    settings.TUTELA_BACKUP_ALERT_EMAILS = ["it-team@example.org"]
    with pytest.raises(CommandError, match="does not exist"):
        call_command("backup", "create", "--no-encryption")
    assert len(mailoutbox) == 1
    assert "backup failed" in mailoutbox[0].subject
    assert list_backups(backups_dir(settings)) == []
