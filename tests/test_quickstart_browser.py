"""`tutela quickstart` from a fresh folder, driven by a person's steps in Chromium."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot

pytestmark = pytest.mark.browser

READY_WITHIN_SECONDS = 180
NEW_PASSWORD = "a long new password for admin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Quickstart:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def password(self) -> str:
        match = re.search(r"password: (\S+)", self.output())
        assert match, self.output()
        return match.group(1)


def read_lines(quickstart: Quickstart) -> None:
    assert quickstart.process.stdout is not None
    for line in quickstart.process.stdout:
        quickstart.lines.append(line.rstrip("\n"))


def health_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def postgres_processes(data_dir: Path) -> list[int]:
    """Pids of processes whose command line names `data_dir` (the embedded server's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(data_dir) in command:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Quickstart]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in ("DATABASE_URL", "DATABASE_URL_FILE", "DJANGO_SETTINGS_MODULE", "TUTELA_VAR_DIR")
    }
    env["TUTELA_VAR_DIR"] = str(tmp_path / "var")
    port = free_port()
    tutela = Path(sys.executable).parent / "tutela"
    process = subprocess.Popen(
        [str(tutela), "quickstart", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = Quickstart(process, f"http://127.0.0.1:{port}", tmp_path / "var" / "postgres")
    reader = threading.Thread(target=read_lines, args=(started,), daemon=True)
    reader.start()
    yield started

    if process.poll() is None:
        process.kill()
        process.wait()
    reader.join(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


def wait_for_health(quickstart: Quickstart) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_WITHIN_SECONDS:
        assert quickstart.process.poll() is None, quickstart.output()
        if health_answers(quickstart.url):
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(
        f"No answer from /health in {READY_WITHIN_SECONDS} s:\n{quickstart.output()}"
    )


def sign_in_and_change_password(page: Any, url: str, password: str) -> None:
    page.goto(f"{url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/password/")
    screenshot(page, "quickstart-1-forced-password-change")
    page.get_by_label("Old password").fill(password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{url}/")


def test_quickstart_serves_and_stops_cleanly(quickstart: Quickstart, page: Any) -> None:
    seconds = wait_for_health(quickstart)
    print(f"quickstart answered /health after {seconds:.1f} s")
    url = quickstart.url

    sign_in_and_change_password(page, url, quickstart.password())
    screenshot(page, "quickstart-2-home")

    # The quick start holds synthetic cases only: it is a demo site, and every page says so.
    expect(page.locator(".site-banner")).to_have_text(
        "Training site: do not enter real information."
    )

    page.goto(f"{url}/cases/")
    rows = page.locator("#record-rows tr:not(.more)")
    assert rows.count() == 25
    screenshot(page, "quickstart-3-case-list")

    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}/$"))
    screenshot(page, "quickstart-4-case")

    page.locator("#section-case_registration_identity a.button").click()
    note = f"Visited the family on {time.strftime('%Y-%m-%d %H:%M:%S')}"
    page.get_by_label("Caseworker notes").fill(note)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}/#section-case_registration_identity$"))
    expect(page.get_by_text(note)).to_be_visible()
    screenshot(page, "quickstart-5-saved")

    quickstart.process.send_signal(signal.SIGINT)
    assert quickstart.process.wait(timeout=60) == 0, quickstart.output()
    assert postgres_processes(quickstart.data_dir) == []
    assert not (quickstart.data_dir / "postmaster.pid").exists()
