"""`tutela quickstart`: a complete local Tutela in one command, for trying it out.

1. Apply the database migrations (to the embedded PostgreSQL under var/ when DATABASE_URL is
   unset: `tutela` starts it before this command runs, and stops it when this command ends),
   and collect the static files under var/static, compressed.
2. Load the default configuration, unless a configuration is loaded.
3. Write synthetic cases, unless records exist.
4. Create the administrator `admin` with a one-time password, printed once, unless it exists.
5. Serve the site with gunicorn on 127.0.0.1 until Ctrl-C (SIGINT) or SIGTERM.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

ADMIN_USERNAME = "admin"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20


class Command(BaseCommand):
    help = (
        "Set up and serve a local Tutela for trying it out: migrate, load the default "
        "configuration, write synthetic cases, create the administrator 'admin' and serve "
        "http://127.0.0.1:PORT. A second run reuses the data. Never for real cases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port to serve on (8000)")
        parser.add_argument(
            "--cases",
            type=int,
            default=1000,
            help="Synthetic cases to write on the first run (1000; 0 for none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port: int = options["port"]
        started = time.monotonic()
        check_port_free(port)
        # SIGTERM during setup ends the command through the normal exit path, so the embedded
        # PostgreSQL is still stopped at exit.
        signal.signal(signal.SIGTERM, exit_on_signal)

        self.say("Applying database migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        # At every start, so that the compressed copies served never lag behind the code.
        self.say("Collecting static files...")
        call_command("collectstatic", interactive=False, verbosity=0)
        self.initialise_site()
        self.load_configuration()
        self.write_cases(options["cases"])
        self.create_administrator()
        self.serve(port, started)

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def initialise_site(self) -> None:
        """Make a new quick start a demo site: it holds synthetic cases, never real ones, and
        every page says so."""
        from tutela.sites.actions import current_site, init_site

        if current_site() is not None:
            return
        self.say("Setting this site up as a demo site (synthetic data only)...")
        init_site("demo", "Quick start")

    def load_configuration(self) -> None:
        from tutela.configuration.models import RecordType

        if RecordType.objects.exists():
            self.say("A configuration is loaded; keeping it.")
            return
        self.say("Loading the default configuration...")
        call_command("config", "load-default", stdout=self.stdout)

    def write_cases(self, count: int) -> None:
        from tutela.records.models import Record

        if Record.objects.exists():
            self.say(f"Records exist ({Record.objects.count():,}); writing no synthetic cases.")
            return
        if count <= 0:
            return
        self.say(f"Writing {count:,} synthetic cases (fake children, for trying Tutela out)...")
        call_command("seed", "synthetic", "--cases", str(count), stdout=self.stdout)

    def create_administrator(self) -> None:
        from tutela.access.models import User

        if User.objects.filter(username=ADMIN_USERNAME).exists():
            self.say(
                f"The administrator '{ADMIN_USERNAME}' exists; its password is not shown again. "
                f"To set a new one: tutela changepassword {ADMIN_USERNAME}"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(
            ADMIN_USERNAME, email="", password=password, must_change_password=True
        )
        # The password goes to this terminal only, never to the log.
        self.say("")
        self.say("Created the administrator account. Sign in with:")
        self.say(f"  username: {ADMIN_USERNAME}")
        self.say(f"  password: {password}")
        self.say("This one-time password is shown only now; you choose a new one at sign-in.")
        self.say("")

    def serve(self, port: int, started: float) -> None:
        """Run gunicorn until it exits or this process receives SIGINT or SIGTERM."""
        url = f"http://127.0.0.1:{port}"
        # In its own process group, Ctrl-C at the terminal reaches only this command, which
        # then stops gunicorn gracefully (SIGTERM) instead of gunicorn's quick shutdown.
        server = subprocess.Popen(  # noqa: S603
            gunicorn_command(port),
            # Serve the collected, compressed static files (see handle).
            env={**os.environ, "TUTELA_STATIC_FROM_SOURCE": "false"},
            process_group=0,
            preexec_fn=end_with_parent,
        )
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            if wait_until_ready(url, server, stop):
                elapsed = time.monotonic() - started
                self.say(f"Tutela is ready at {url} ({elapsed:.1f} s). Press Ctrl-C to stop.")
            while server.poll() is None and not stop.wait(0.5):
                pass
        finally:
            self.stop_server(server)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not stop.is_set():
            raise CommandError(f"The web server stopped (exit code {server.returncode}).")
        self.say("Stopped.")

    def stop_server(self, server: subprocess.Popen[bytes]) -> None:
        if server.poll() is not None:
            return
        self.say("Stopping the web server...")
        server.terminate()
        try:
            server.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def end_with_parent() -> None:
    """Ask Linux to send SIGTERM to the server if this command dies without stopping it."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Connections of the previous run may linger in TIME_WAIT; gunicorn binds with
        # SO_REUSEADDR too, so only a listening socket makes the port unusable.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise CommandError(
                f"Port {port} on 127.0.0.1 is in use; choose another with --port."
            ) from None


def gunicorn_command(port: int) -> list[str]:
    return [
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
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
    ]


def wait_until_ready(url: str, server: subprocess.Popen[bytes], stop: threading.Event) -> bool:
    """Poll /health until it returns 200. Return False if the server exits or stop is set."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and server.poll() is None and not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        stop.wait(0.25)
    return False
