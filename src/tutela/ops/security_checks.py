"""Django system checks for a production site: `tutela.E001` to `tutela.E008`.

They run before most management commands (and `tutela check`) and report nothing in local
mode (TUTELA_MODE=local, the quick start), which serves plain HTTP on 127.0.0.1. The ids are
stable: docs/settings.md lists them, and operators may search for them.
"""

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.utils.csp import CSP

# The same limits as Django's deployment check security.W009. The key that `startproject`
# writes starts with "django-insecure-".
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_DISTINCT = 5
# A day at least. Production mode sends a year unless TUTELA_HSTS_SECONDS sets another value.
MIN_HSTS_SECONDS = 86_400
SECRET_FILE_VARIABLES = (
    "SECRET_KEY_FILE",
    "DATABASE_URL_FILE",
    "SMTP_PASSWORD_FILE",
    "BACKUP_HEARTBEAT_URL_FILE",
)


def production_mode() -> bool:
    return getattr(settings, "TUTELA_MODE", "production") == "production"


def check_debug() -> list[CheckMessage]:
    if not settings.DEBUG:
        return []
    return [
        Error(
            "DEBUG is on in production mode: error pages would show settings and code.",
            hint="Unset TUTELA_DEBUG (or set it to false).",
            id="tutela.E001",
        )
    ]


def secret_key_weakness(key: str) -> str:
    """Return why `key` is weak, or an empty string for a strong key."""
    if key.startswith("django-insecure-"):
        return "it is a development key (it starts with django-insecure-)"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it has {len(key)} characters, fewer than {MIN_SECRET_KEY_LENGTH}"
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        return f"it has fewer than {MIN_SECRET_KEY_DISTINCT} distinct characters"
    return ""


def check_secret_key() -> list[CheckMessage]:
    weakness = secret_key_weakness(str(settings.SECRET_KEY))
    if not weakness:
        return []
    return [
        Error(
            f"The secret key is weak: {weakness}.",
            hint=(
                "Set secret_key in the secrets file to a random value of 50 characters or "
                "more, such as the output of `python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'`."
            ),
            id="tutela.E002",
        )
    ]


def check_secure_cookies() -> list[CheckMessage]:
    insecure = [
        name
        for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
        if not getattr(settings, name)
    ]
    if not insecure:
        return []
    return [
        Error(
            f"{' and '.join(insecure)} are off in production mode: the session and CSRF "
            "cookies would travel over plain HTTP.",
            hint="Unset TUTELA_SECURE_COOKIES (production mode defaults it to true).",
            id="tutela.E003",
        )
    ]


def check_hsts() -> list[CheckMessage]:
    seconds = settings.SECURE_HSTS_SECONDS
    if seconds >= MIN_HSTS_SECONDS:
        return []
    return [
        Error(
            f"HSTS is {seconds} seconds, less than {MIN_HSTS_SECONDS}: browsers would not "
            "keep to HTTPS.",
            hint="Unset TUTELA_HSTS_SECONDS (production mode defaults it to one year).",
            id="tutela.E004",
        )
    ]


def check_https_detection() -> list[CheckMessage]:
    if settings.SECURE_SSL_REDIRECT or getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return []
    return [
        Error(
            "Tutela cannot tell HTTPS requests from plain HTTP ones, so it sends no HSTS "
            "header and redirects nothing.",
            hint=(
                "Behind a reverse proxy that ends TLS and sets X-Forwarded-Proto, set "
                "TUTELA_TLS_PROXY=true; when Tutela itself receives HTTPS, set "
                "TUTELA_SSL_REDIRECT=true."
            ),
            id="tutela.E005",
        )
    ]


def secret_files() -> Iterable[tuple[str, Path]]:
    """Yield each file that holds a secret, with the setting or variable that names it."""
    if settings.TUTELA_SECRETS_FILE:
        yield "TUTELA_SECRETS_FILE", Path(settings.TUTELA_SECRETS_FILE)
    for variable in SECRET_FILE_VARIABLES:
        if os.environ.get(variable):
            yield variable, Path(os.environ[variable])
    key_file = Path(os.environ.get("TUTELA_VAR_DIR", Path.cwd() / "var")) / "secret_key"
    if key_file.exists():
        yield "the generated secret key", key_file


def check_secret_files() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for source, path in secret_files():
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & 0o077:
            errors.append(
                Error(
                    f"The secrets file {path} ({source}) is readable by other users "
                    f"(mode {mode & 0o777:o}).",
                    hint=f"Run `chmod 600 {path}` and make the file owned by Tutela's user.",
                    id="tutela.E006",
                )
            )
    return errors


def check_content_security_policy() -> list[CheckMessage]:
    policy: dict[str, Any] = settings.SECURE_CSP or {}
    unsafe = sorted(
        directive
        for directive, sources in policy.items()
        if CSP.UNSAFE_INLINE in sources or CSP.UNSAFE_EVAL in sources
    )
    if policy.get("default-src") and not unsafe:
        return []
    problem = (
        f"allows unsafe-inline or unsafe-eval in {', '.join(unsafe)}" if unsafe else "is empty"
    )
    return [
        Error(
            f"The Content Security Policy {problem}.",
            hint="Keep SECURE_CSP as tutela/settings.py sets it.",
            id="tutela.E007",
        )
    ]


def check_frame_denial() -> list[CheckMessage]:
    middleware = "django.middleware.clickjacking.XFrameOptionsMiddleware"
    if settings.X_FRAME_OPTIONS == "DENY" and middleware in settings.MIDDLEWARE:
        return []
    return [
        Error(
            "Pages may be framed by other sites (X-Frame-Options is not DENY).",
            hint=f"Set X_FRAME_OPTIONS = 'DENY' and keep {middleware} in MIDDLEWARE.",
            id="tutela.E008",
        )
    ]


@register("security")
def check_production_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Run every production check; in local mode, none."""
    if not production_mode():
        return []
    return [
        *check_debug(),
        *check_secret_key(),
        *check_secure_cookies(),
        *check_hsts(),
        *check_https_detection(),
        *check_secret_files(),
        *check_content_security_policy(),
        *check_frame_denial(),
    ]
