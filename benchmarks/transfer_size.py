#!/usr/bin/env python3
"""Measure the bytes a browser transfers for the case list and a case page.

The script serves a seeded benchmark database (see benchmarks/database.py) with gunicorn on
127.0.0.1, behind a small TCP relay that counts every byte the server sends: status lines,
headers and bodies, compressed as served. Chromium (Playwright, /usr/bin/chromium) signs in
as a synthetic caseworker and opens each page twice:

- first load: a new browser profile with an empty cache and no service worker. The count
  includes what the service worker fetches when it installs.
- later navigation: the next page opened in the same browser, with the cache warm.

Results go to benchmarks/output/transfer.json and benchmarks/TRANSFER.md, and replace the
"Transfer size" section of BENCHMARKS.md (between its transfer-size markers).

    make bench-transfer                      # or: make bench BENCH_ARGS=transfer
    .venv/bin/python benchmarks/transfer_size.py --throttle
"""

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import CHROMIUM, CHROMIUM_ARGS

from benchmarks import database

ROOT = database.ROOT
RESULTS = database.OUTPUT / "transfer.json"
SECTION = ROOT / "benchmarks" / "TRANSFER.md"
PAGE = ROOT / "BENCHMARKS.md"
# The section of BENCHMARKS.md that this script rewrites. Other scripts own the rest of it.
START = "<!-- transfer-size:start -->"
END = "<!-- transfer-size:end -->"
# The targets, in bytes (1 KB = 1,024 bytes).
FIRST_LOAD_TARGET = 150 * 1024
LATER_TARGET = 30 * 1024
# A slow mobile link for --throttle: 400 kbit/s down, 200 kbit/s up, 400 ms round trip.
SLOW_LINK = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 400_000 / 8,
    "uploadThroughput": 200_000 / 8,
}
# The synthetic caseworker signed in; `tutela seed synthetic` names them with four digits.
CASEWORKER = "synthetic-caseworker-0001"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="Caseload size (1000)")
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="Also time each load on a slow link (400 kbit/s, 400 ms round trip)",
    )
    parser.add_argument(
        "--tree",
        default="working",
        help="The code to serve: 'working' (this checkout), 'head' (a clean export of the "
        "last commit) or the path of another source tree",
    )
    parser.add_argument(
        "--static",
        choices=("collected", "source"),
        default="collected",
        help="Serve the static files collected and compressed by collectstatic (as in "
        "production and the quick start), or the uncompressed source files",
    )
    return parser.parse_args()


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


class CountingRelay:
    """A TCP relay on 127.0.0.1 that counts the bytes going each way."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.received = 0  # from the server to the browser
        self.sent = 0  # from the browser to the server
        self.connections = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.pump, args=(client, server, "sent"), daemon=True).start()
            threading.Thread(
                target=self.pump, args=(server, client, "received"), daemon=True
            ).start()

    def pump(self, source: socket.socket, target: socket.socket, counter: str) -> None:
        try:
            while chunk := source.recv(65536):
                with self.lock:
                    setattr(self, counter, getattr(self, counter) + len(chunk))
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        with self.lock:
            self.received = self.sent = self.connections = 0

    def close(self) -> None:
        self.listener.close()


@dataclass
class Measure:
    page: str
    visit: str
    received: int
    sent: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    load_ms: float | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def source_tree(kind: str) -> tuple[Path, str]:
    """Return the folder whose src/ to serve, and its description for the results page."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if kind == "working":
        return ROOT, f"the working tree at {commit}"
    if kind != "head":
        return Path(kind).resolve(), f"the tree at {kind}"
    tree = database.OUTPUT / f"tree-{commit}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree, f"commit {commit}"


def environment(tree: Path, db: str, static: str) -> dict[str, str]:
    """Return the environment of the Django commands and the server: `tree`'s code on `db`."""
    env = database.environment(db)
    env["PYTHONPATH"] = f"{tree / 'src'}:{tree}"
    env["TUTELA_STATIC_FROM_SOURCE"] = "true" if static == "source" else "false"
    return env


def django(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "django", *args], env=env, cwd=ROOT, check=True)


def prepare(env: dict[str, str], db: str, cases: int) -> None:
    """Create, migrate and seed `db` with `cases` synthetic cases, unless that is done."""
    marker = database.OUTPUT / f"{db}.ready"
    if marker.exists() and marker.read_text().strip() == str(cases):
        log(f"{db}: ready with {cases:,} cases.")
        return
    log(f"{db}: creating, then seeding {cases:,} cases.")
    marker.unlink(missing_ok=True)
    with database.connect("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db}"')
    django(env, "migrate", "--no-input", "-v", "0")
    django(env, "config", "load-default")
    django(env, "seed", "synthetic", "--cases", str(cases), "--seed", str(database.SEED))
    marker.write_text(f"{cases}\n")


def set_password(env: dict[str, str], username: str) -> None:
    script = (
        "from tutela.access.models import User; "
        f"user = User.objects.get(username={username!r}); "
        f"user.set_password({database.PASSWORD!r}); user.save()"
    )
    django(env, "shell", "-c", script)


@contextmanager
def serve(env: dict[str, str]) -> Iterator[int]:
    """Run gunicorn on a free port of 127.0.0.1 until the block ends, and yield the port."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tutela.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_health(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_health(port: int, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not respond to /health within 60 s")


def largest_open_case(db: str, username: str) -> str:
    """Return the id of the caseworker's open case with the most data: the heaviest page."""
    with database.connect(db) as conn:
        row = conn.execute(
            "SELECT r.id FROM records_record r JOIN access_user u ON u.id = r.owner_id "
            "WHERE u.username = %s AND r.status = 'open' AND NOT r.disabled "
            "ORDER BY pg_column_size(r.data) DESC LIMIT 1",
            [username],
        ).fetchone()
    if row is None:
        raise RuntimeError(f"{username} owns no open case in {db}")
    return str(row[0])


def sign_in(context: Any, base: str, username: str) -> None:
    """Sign in through the browser context's request API: it shares the context's cookies."""
    form = context.request.get(f"{base}/sign-in/").text()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    if not match:
        raise RuntimeError("The sign-in page has no CSRF token")
    answer = context.request.post(
        f"{base}/sign-in/",
        form={
            "csrfmiddlewaretoken": match.group(1),
            "login": username,
            "password": database.PASSWORD,
        },
        headers={"Referer": f"{base}/sign-in/"},
        max_redirects=0,
    )
    if answer.status != 302:
        raise RuntimeError(f"Sign-in failed with status {answer.status}")


def settle(page: Any) -> None:
    """Wait until the page and its service worker have finished fetching."""
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """async () => {
            if (!("serviceWorker" in navigator)) return;
            const registration = await navigator.serviceWorker.ready;
            const deadline = Date.now() + 10000;
            while (!navigator.serviceWorker.controller && Date.now() < deadline) {
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            return registration.active && registration.active.state;
        }"""
    )
    # The worker caches the offline page after the page reports its language.
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")


def page_requests(page: Any) -> list[dict[str, Any]]:
    """Return the page's own requests with the bytes each took on the network (0: cached).

    For a page that the service worker fetched, the browser reports the decoded size: the
    relay's count is the one to trust.
    """
    entries = page.evaluate(
        """() => performance.getEntries()
            .filter((e) => e.entryType === "navigation" || e.entryType === "resource")
            .map((e) => ({url: e.name, transfer: e.transferSize, body: e.encodedBodySize,
                          decoded: e.decodedBodySize}))"""
    )
    return [dict(entry) for entry in entries]


def measure(
    relay: CountingRelay, page: Any, name: str, visit: str, go: Any, timed: bool
) -> Measure:
    relay.reset()
    started = time.monotonic()
    go()
    page.wait_for_load_state("load")
    load_ms = (time.monotonic() - started) * 1000
    settle(page)
    with relay.lock:
        received, sent = relay.received, relay.sent
    result = Measure(name, visit, received, sent, page_requests(page))
    if timed:
        result.load_ms = round(load_ms)
    log(f"{name}, {visit}: {received:,} bytes received, {sent:,} sent")
    return result


def new_page(browser: Any, base: str, username: str, throttle: bool) -> Any:
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="en")
    sign_in(context, base, username)
    page = context.new_page()
    if throttle:
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        session.send("Network.emulateNetworkConditions", SLOW_LINK)
    return page


def run_browser(base: str, relay: CountingRelay, case_id: str, throttle: bool) -> list[Measure]:
    from playwright.sync_api import sync_playwright

    username = CASEWORKER
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        # The case list first, then a case reached from it, then the list again.
        page = new_page(browser, base, username, throttle)
        results.append(
            measure(
                relay,
                page,
                "Case list",
                "first load",
                lambda: page.goto(f"{base}/cases/"),
                throttle,
            )
        )
        results.append(
            measure(
                relay,
                page,
                "Case view",
                "later navigation",
                lambda: page.goto(f"{base}/cases/{case_id}/"),
                throttle,
            )
        )
        results.append(
            measure(
                relay,
                page,
                "Case list",
                "later navigation",
                lambda: page.get_by_role("link", name="Cases").first.click(),
                throttle,
            )
        )
        page.context.close()

        # A case opened first, in a new profile.
        page = new_page(browser, base, username, throttle)
        results.append(
            measure(
                relay,
                page,
                "Case view",
                "first load",
                lambda: page.goto(f"{base}/cases/{case_id}/"),
                throttle,
            )
        )
        page.context.close()
        browser.close()
    return results


def kilobytes(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def render_section(results: dict[str, Any]) -> str:
    measures = {(m["page"], m["visit"]): m for m in results["measures"]}
    timed = any(m.get("load_ms") is not None for m in results["measures"])
    lines = [
        START,
        "## Transfer size",
        "",
        "Bytes the server sent to Chromium (status lines, headers and bodies, compressed as",
        "served), counted by a TCP relay in front of gunicorn, for a synthetic caseworker of",
        f"a {results['cases']:,}-case database. The case page is the caseworker's open case with",
        "the most data. *First load* starts from an empty browser cache and includes what the",
        "service worker fetches when it installs. *Later navigation* opens the next page in",
        "the same browser, with the cache warm. Targets: under 150 KB first, under 30 KB later.",
        "",
        "| page | first load | later navigation |",
        "|---|---|---|",
    ]
    for name in ("Case list", "Case view"):
        first = measures[(name, "first load")]
        later = measures[(name, "later navigation")]
        lines.append(
            f"| {name} | {kilobytes(first['received'])} | {kilobytes(later['received'])} |"
        )
    if timed:
        lines += [
            "",
            "Time to the load event on a slow link (400 kbit/s down, 400 ms round trip, set",
            "through Chromium's network emulation):",
            "",
            "| page | first load | later navigation |",
            "|---|---|---|",
        ]
        for name in ("Case list", "Case view"):
            first = measures[(name, "first load")]
            later = measures[(name, "later navigation")]
            lines.append(f"| {name} | {first['load_ms']:,} ms | {later['load_ms']:,} ms |")
    lines += [
        "",
        f"Static files: {results['static']}. Measured {results['measured_at']} on "
        f"{results['machine']}, serving {results['code']}.",
        "",
        "```",
        f"make bench-transfer{' BENCH_ARGS=--throttle' if timed else ''}",
        "```",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_page(section: str) -> None:
    """Put the section into BENCHMARKS.md between its markers, or at the end the first time."""
    SECTION.write_text(section)
    text = PAGE.read_text() if PAGE.exists() else "# Benchmarks\n"
    start, end = text.find(START), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    PAGE.write_text(text)


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} cores, Python {platform.python_version()}"


def main() -> None:
    args = parse_arguments()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    tree, code = source_tree(args.tree)
    db = f"tutela_transfer_{args.cases}"
    env = environment(tree, db, args.static)
    prepare(env, db, args.cases)
    set_password(env, CASEWORKER)
    if args.static == "collected":
        log("Collecting the static files...")
        django(env, "collectstatic", "--no-input", "-v", "0")
    case_id = largest_open_case(db, CASEWORKER)

    with serve(env) as port:
        relay = CountingRelay(port)
        try:
            measures = run_browser(f"http://127.0.0.1:{relay.port}", relay, case_id, args.throttle)
        finally:
            relay.close()

    results = {
        "cases": args.cases,
        "static": "collected and compressed"
        if args.static == "collected"
        else "served from the source folders, uncompressed",
        "machine": machine(),
        "code": code,
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "measures": [asdict(m) for m in measures],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_page(render_section(results))
    failed = [
        m
        for m in measures
        if m.received > (FIRST_LOAD_TARGET if m.visit == "first load" else LATER_TARGET)
    ]
    for m in failed:
        log(f"Over the target: {m.page}, {m.visit}: {kilobytes(m.received)}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
