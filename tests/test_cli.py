"""The `tutela` entry point: setup mistakes print their message alone."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tutela.settings import load_secrets

ROOT = Path(__file__).resolve().parents[1]


def run_tutela(*args: str, secrets_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from tutela.cli import main; main()", *args],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tutela.settings",
            "TUTELA_SECRETS_FILE": str(secrets_file),
            "TUTELA_MODE": "local",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_missing_secrets_file_exits_2(tmp_path: Path) -> None:
    result = run_tutela("check", secrets_file=tmp_path / "secrets.toml")
    assert result.returncode == 2


def test_cli_missing_secrets_file_prints_message_alone(tmp_path: Path) -> None:
    result = run_tutela("check", secrets_file=tmp_path / "secrets.toml")
    assert result.stderr.strip() == (
        f"TUTELA_SECRETS_FILE names {tmp_path / 'secrets.toml'}, which does not exist."
    )


def test_cli_keygen_missing_folder_still_refused(tmp_path: Path) -> None:
    result = run_tutela("site", "keygen", secrets_file=tmp_path / "absent" / "secrets.toml")
    assert "which does not exist" in result.stderr


def test_load_secrets_missing_file_empty_for_keygen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUTELA_SECRETS_FILE", str(tmp_path / "secrets.toml"))
    monkeypatch.setenv("TUTELA_SECRETS_FILE_MAY_BE_MISSING", "1")
    assert load_secrets() == {}
