"""Every `tutela` subcommand that Tutela adds prints its help without error."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands

SRC = Path(__file__).resolve().parents[1] / "src"


def tutela_commands() -> list[str]:
    return sorted(name for name, app in get_commands().items() if app.startswith("tutela."))


def test_commands_found() -> None:
    assert {"config", "token"} <= set(tutela_commands())


@pytest.mark.parametrize("name", tutela_commands())
def test_command_help(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", name, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(SRC.parent),
        },
        cwd=SRC.parent,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
