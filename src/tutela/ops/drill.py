"""`tutela dr drill`: prove that the newest backup restores into a working site, and time it.

Steps:
1. restore the backup into a scratch database on the site's PostgreSQL server and a scratch
   document folder (the restore checks hashes, counts and the audit chain against the manifest);
2. start a scratch web server on its own port on 127.0.0.1, with the scratch database;
3. smoke checks: /health responds with 200; a temporary staff user signs in; a case page opens;
4. the recovery time runs from the start of step 1 to the end of step 3; the data age is the
   time from the backup's snapshot to the end of step 3 (the work a real disaster would lose);
5. stop the server, drop the scratch database and folder, and write the report (Markdown and
   JSON) into the drill history.
"""

import datetime as dt
import http.cookiejar
import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from tutela.ops import pgtools, status
from tutela.ops.backup import backup_root, newest_complete
from tutela.ops.documents import LocalDocumentStore
from tutela.ops.files import end_with_parent
from tutela.ops.manifest import backup_folder
from tutela.ops.pgtools import ToolsMissing
from tutela.ops.restore import RestoreFailed, RestoreRefused, Target, restore_backup
from tutela.ops.target import TargetStepFailed, run_step

logger = logging.getLogger(__name__)

SERVER_READY_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 15


class DrillFailed(Exception):
    pass


def dr_dir() -> Path:
    return Path(settings.TUTELA_DR_DIR)


def history_dir() -> Path:
    return dr_dir() / "history"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class DrillReport:
    site: str
    role: str
    backup_id: str
    snapshot_at: str
    started_at: str
    finished_at: str = ""
    ok: bool = False
    recovery_seconds: float | None = None
    data_age_seconds: float | None = None
    scratch_database: str = ""
    checks: list[Check] = field(default_factory=list)
    manifest_counts: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(port: int, database_url: str, media: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("DATABASE_URL_FILE", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "tutela.settings",
            "TUTELA_MEDIA_ROOT": str(media),
            # The scratch site serves plain HTTP on 127.0.0.1 only.
            "TUTELA_MODE": "local",
            "TUTELA_SECURE_COOKIES": "false",
            "TUTELA_ALLOWED_HOSTS": "127.0.0.1",
            "TUTELA_DEBUG": "false",
        }
    )
    return subprocess.Popen(  # noqa: S603
        [
            *(sys.executable, "-m", "gunicorn", "tutela.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"),
            *("--log-level", "warning"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=end_with_parent,
    )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Browser:
    """A cookie-keeping HTTP client for the smoke checks, on 127.0.0.1 only."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str, str]:
        return self.send(urllib.request.Request(self.base + path))  # noqa: S310

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode()
        return self.send(urllib.request.Request(self.base + path, data=data))  # noqa: S310

    def send(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                body = response.read().decode(errors="replace")
                return response.status, response.geturl(), body
        except urllib.error.HTTPError as e:
            return e.code, e.geturl() or "", e.read().decode(errors="replace")


def wait_for_health(base: str, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + SERVER_READY_SECONDS
    browser = Browser(base)
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DrillFailed(f"the scratch web server exited (code {server.returncode})")
        try:
            code, _, body = browser.get("/health")
            if code == 200:
                return "HTTP 200, " + str(json.loads(body)["status"])
            last = f"HTTP {code}"
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise DrillFailed(f"/health did not respond with 200 within {SERVER_READY_SECONDS} s ({last})")


def sign_in(browser: Browser, username: str, password: str) -> str:
    code, _, page = browser.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if code != 200 or not token:
        raise DrillFailed(f"the sign-in page did not load (HTTP {code})")
    code, final_url, _ = browser.post(
        "/sign-in/",
        {"csrfmiddlewaretoken": token.group(1), "login": username, "password": password},
    )
    if code != 200 or urllib.parse.urlparse(final_url).path.startswith("/sign-in"):
        raise DrillFailed(f"signing in failed (HTTP {code}, still on the sign-in page)")
    return "a temporary staff user signed in"


def open_case(browser: Browser, case_id: str | None, short_id: str | None) -> str:
    if case_id is None:
        raise DrillFailed("the restored site contains no case to open")
    code, _, page = browser.get(f"/cases/{case_id}/")
    if code != 200 or (short_id or "") not in page:
        raise DrillFailed(f"the case page did not open (HTTP {code})")
    return f"case {short_id} opened"


def run_drill(
    identity: Path, backup_id: str | None = None, port: int | None = None, keep: bool = False
) -> DrillReport:
    backup = backup_folder(backup_root(), backup_id) if backup_id else newest_complete()
    if backup is None or backup.manifest is None:
        raise DrillFailed("There is no complete backup to drill with: run `tutela backup create`.")
    manifest = backup.manifest
    now = dt.datetime.now(dt.UTC)
    report = DrillReport(
        site=settings.TUTELA_SITE_NAME,
        role=settings.TUTELA_SITE_ROLE,
        backup_id=backup.id,
        snapshot_at=manifest["snapshot_at"],
        started_at=now.isoformat(timespec="seconds"),
        manifest_counts=manifest["counts"],
    )
    server = pgtools.site_server()
    name = f"tutela_drill_{now:%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    report.scratch_database = name
    scratch = dr_dir() / "scratch" / name
    media = scratch / "media"
    started = time.monotonic()
    web: subprocess.Popen[bytes] | None = None

    def step(check_name: str, action: Any) -> None:
        step_started = time.monotonic()
        try:
            detail = action()
            report.checks.append(Check(check_name, True, detail, elapsed(step_started)))
        except (
            DrillFailed,
            RestoreFailed,
            RestoreRefused,
            TargetStepFailed,
            ToolsMissing,
            psycopg.Error,
            OSError,
        ) as e:
            report.checks.append(Check(check_name, False, str(e), elapsed(step_started)))
            raise DrillFailed(str(e)) from None

    try:
        target = Target(server, name, LocalDocumentStore(media), media)
        step("restore", lambda: restore_summary(restore_backup(backup.id, identity, target)))
        url = server.url(name)
        web_port = port or free_port()
        web = start_server(web_port, url, media)
        base = f"http://127.0.0.1:{web_port}"
        step("health", lambda: wait_for_health(base, web))
        user = run_step(url, {"action": "drill-user"})
        browser = Browser(base)
        step("sign-in", lambda: sign_in(browser, user["username"], user["password"]))
        step("open a case", lambda: open_case(browser, user["case_id"], user["case_short_id"]))
        report.ok = True
        report.recovery_seconds = round(time.monotonic() - started, 1)
        recovered = dt.datetime.now(dt.UTC)
        snapshot = dt.datetime.fromisoformat(manifest["snapshot_at"])
        report.data_age_seconds = round((recovered - snapshot).total_seconds(), 1)
    except DrillFailed:
        report.ok = False
    finally:
        if web is not None:
            stop_server(web)
        if not keep:
            pgtools.drop_database(server, name)
            shutil.rmtree(scratch, ignore_errors=True)
    report.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    write_report(report)
    status.record(
        "drill",
        {
            "ok": report.ok,
            "backup_id": report.backup_id,
            "recovery_seconds": report.recovery_seconds,
            "data_age_seconds": report.data_age_seconds,
        },
    )
    return report


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 2)


def restore_summary(result: Any) -> str:
    return (
        f"{result.documents} documents; record counts and audit chain head equal the "
        f"manifest; {result.audit_entries_checked} audit entries verified"
    )


def format_seconds(value: float | None) -> str:
    if value is None:
        return "not measured"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{value:.1f} s"


def report_markdown(report: DrillReport) -> str:
    lines = [
        f"# Disaster recovery drill: {report.site} ({report.role})",
        "",
        f"- Result: **{'passed' if report.ok else 'FAILED'}**",
        f"- Backup: {report.backup_id} (snapshot {report.snapshot_at})",
        f"- Started: {report.started_at}; finished: {report.finished_at}",
        f"- Recovery time: {format_seconds(report.recovery_seconds)}",
        f"- Data age at recovery: {format_seconds(report.data_age_seconds)}",
        "",
        "| check | result | seconds | detail |",
        "|---|---|---|---|",
    ]
    for check in report.checks:
        detail = check.detail.replace("|", "/")
        lines.append(
            f"| {check.name} | {'ok' if check.ok else 'failed'} | {check.seconds} | {detail} |"
        )
    lines += ["", "Record counts in the backup's manifest:", ""]
    for key, value in report.manifest_counts.items():
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def write_report(report: DrillReport) -> Path:
    folder = history_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"drill-{report.started_at.replace(':', '').replace('+0000', 'Z')}"
    (folder / f"{stem}.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    (folder / f"{stem}.md").write_text(report_markdown(report))
    return folder / f"{stem}.md"


def drill_history(limit: int = 10) -> list[dict[str, Any]]:
    """Return the newest drill reports, newest first."""
    reports = []
    for path in sorted(history_dir().glob("drill-*.json"), reverse=True)[:limit]:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return reports
