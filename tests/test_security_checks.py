"""Hardening: the production-mode system checks (tutela.E001...) and the security headers."""

from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings
from django.utils.csp import CSP

from tutela.ops.security_checks import check_production_settings

STRONG_KEY = "k7Qx-" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5"

PRODUCTION = {
    "TUTELA_MODE": "production",
    "DEBUG": False,
    "SECRET_KEY": STRONG_KEY,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "TUTELA_SECRETS_FILE": "",
}


def error_ids(**changes: Any) -> list[str]:
    with override_settings(**{**PRODUCTION, **changes}):
        messages = check_production_settings()
    assert all(isinstance(message, Error) for message in messages)
    return [message.id or "" for message in messages]


@pytest.fixture(autouse=True)
def no_secret_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The test settings write a generated key under test-output/var; point E006 elsewhere.
    monkeypatch.setenv("TUTELA_VAR_DIR", str(tmp_path))


def test_production_settings_pass() -> None:
    assert error_ids() == []


def test_local_mode_checks_nothing() -> None:
    assert error_ids(TUTELA_MODE="local", DEBUG=True, SECRET_KEY="short") == []


def test_debug_fails_e001() -> None:
    assert error_ids(DEBUG=True) == ["tutela.E001"]


@pytest.mark.parametrize(
    "key",
    ["short-key", "django-insecure-" + "x" * 60, "ab" * 40],
    ids=["short", "insecure-prefix", "few-distinct"],
)
def test_weak_secret_key_fails_e002(key: str) -> None:
    assert error_ids(SECRET_KEY=key) == ["tutela.E002"]


def test_insecure_cookies_fail_e003() -> None:
    assert error_ids(CSRF_COOKIE_SECURE=False) == ["tutela.E003"]
    assert error_ids(SESSION_COOKIE_SECURE=False) == ["tutela.E003"]


def test_missing_hsts_fails_e004() -> None:
    assert error_ids(SECURE_HSTS_SECONDS=0) == ["tutela.E004"]


def test_missing_https_detection_fails_e005() -> None:
    assert error_ids(SECURE_PROXY_SSL_HEADER=None) == ["tutela.E005"]
    assert error_ids(SECURE_PROXY_SSL_HEADER=None, SECURE_SSL_REDIRECT=True) == []


def test_readable_secrets_file_fails_e006(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('secret_key = "x"\n')
    secrets.chmod(0o600)
    assert error_ids(TUTELA_SECRETS_FILE=str(secrets)) == []
    secrets.chmod(0o644)
    assert error_ids(TUTELA_SECRETS_FILE=str(secrets)) == ["tutela.E006"]


def test_readable_file_variable_fails_e006(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = tmp_path / "smtp_password"
    password.write_text("x")
    password.chmod(0o640)
    monkeypatch.setenv("SMTP_PASSWORD_FILE", str(password))
    assert error_ids() == ["tutela.E006"]


def test_unsafe_inline_policy_fails_e007() -> None:
    policy = {"default-src": [CSP.SELF], "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}
    assert error_ids(SECURE_CSP=policy) == ["tutela.E007"]
    assert error_ids(SECURE_CSP={}) == ["tutela.E007"]


def test_framing_allowed_fails_e008() -> None:
    assert error_ids(X_FRAME_OPTIONS="SAMEORIGIN") == ["tutela.E008"]


def test_check_command_stops_on_debug() -> None:
    with (
        override_settings(**{**PRODUCTION, "DEBUG": True}),
        pytest.raises(SystemCheckError, match=r"tutela\.E001"),
    ):
        call_command("check")


@pytest.mark.django_db
def test_sign_in_page_headers() -> None:
    response = Client().get("/sign-in/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_https_request_gets_hsts_and_secure_cookies() -> None:
    with override_settings(**PRODUCTION):
        response = Client().get("/sign-in/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response.cookies["csrftoken"]["secure"] is True


@pytest.mark.django_db
def test_local_mode_sends_no_hsts() -> None:
    response = Client().get("/sign-in/")
    assert "Strict-Transport-Security" not in response
