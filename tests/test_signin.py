"""Sign-in: Argon2, the password list, lockout, session timeouts, required MFA, onboarding mail.

The onboarding mail goes to a local aiosmtpd server that requires STARTTLS. Its certificate comes
from a CA that the test makes (trustme), so nothing leaves the machine.
"""

import datetime as dt
import email
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, TOTP, generate_totp_secret
from django.contrib.auth import password_validation
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from tests.signin_support import totp_code
from tutela.access.models import Role, User
from tutela.access.tokens import issue_token
from tutela.audit.models import AuditEntry, Outcome
from tutela.signin import lockout
from tutela.signin.mail import StartTlsEmailBackend
from tutela.signin.middleware import SEEN_AT, SIGNED_IN_AT
from tutela.signin.models import SignInLink, SignInThrottle
from tutela.signin.passwords import is_common

PASSWORD = "correct horse battery"


def sign_in_post(client: Client, username: str, password: str) -> Any:
    return client.post("/sign-in/", {"login": username, "password": password})


def sign_in_failures(reason: str) -> list[AuditEntry]:
    entries = AuditEntry.objects.filter(action="auth.sign_in", outcome=Outcome.FAILURE)
    return [entry for entry in entries if entry.details.get("reason") == reason]


# Passwords


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiop123", "Sunshine2024!", "iloveyou!!!!!!", "1234567890123"],
)
def test_common_password_rejected(password: str) -> None:
    assert is_common(password)
    with pytest.raises(ValidationError):
        password_validation.validate_password(password)


@pytest.mark.parametrize("password", [PASSWORD, "lantern orchard 47 violet", "Tr0ub4dor&3-x"])
def test_uncommon_password_accepted(password: str) -> None:
    password_validation.validate_password(password)


def test_short_password_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 12"):
        password_validation.validate_password("kq8#vnw2!zp")


def test_old_hash_upgrades_to_argon2_at_sign_in(caseworker: User, settings: Any) -> None:
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert caseworker.password.startswith("md5$")
    response = sign_in_post(Client(), "amina", PASSWORD)
    assert response.status_code == 302
    caseworker.refresh_from_db()
    assert caseworker.password.startswith("argon2$argon2id$")


# Lockout


def test_lockout_delay_doubles_up_to_the_maximum(settings: Any) -> None:
    settings.TUTELA_LOCKOUT_BASE_DELAY = 30
    settings.TUTELA_LOCKOUT_MAX_DELAY = 3600
    delays = [lockout.delay_after(n, 5).total_seconds() for n in range(4, 14)]
    assert delays == [0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600]


def test_account_locks_after_free_failures(caseworker: User, settings: Any) -> None:
    settings.TUTELA_LOCKOUT_FREE_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert sign_in_post(client, "amina", "wrong password here").status_code == 200
    assert SignInThrottle.objects.get(key="account:amina").locked_until is None

    sign_in_post(client, "amina", "wrong password here")
    response = sign_in_post(client, "amina", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert len(sign_in_failures("invalid_credentials")) == 4
    assert len(sign_in_failures("locked_out")) == 1


def test_account_lock_expires(caseworker: User, settings: Any) -> None:
    settings.TUTELA_LOCKOUT_FREE_FAILURES = 0
    client = Client()
    sign_in_post(client, "amina", "wrong password here")
    throttle = SignInThrottle.objects.get(key="account:amina")
    throttle.locked_until = timezone.now() - dt.timedelta(seconds=1)
    throttle.save()
    assert sign_in_post(client, "amina", PASSWORD).status_code == 302
    assert not SignInThrottle.objects.filter(key="account:amina").exists()


def test_address_locks_across_accounts(caseworker: User, settings: Any) -> None:
    settings.TUTELA_LOCKOUT_ADDRESS_FREE_FAILURES = 3
    client = Client()
    for name in ("x1", "x2", "x3", "x4"):
        sign_in_post(client, name, "wrong password here")
    response = sign_in_post(client, "amina", PASSWORD)
    assert "Too many failed sign-ins" in response.content.decode()
    other_address = Client(REMOTE_ADDR="192.0.2.7")
    assert sign_in_post(other_address, "amina", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_counter_forgets_old_failures(settings: Any) -> None:
    settings.TUTELA_LOCKOUT_FREE_FAILURES = 1
    keys = lockout.keys_for("nobody", None)
    lockout.record_failure(keys)
    SignInThrottle.objects.update(last_failure_at=timezone.now() - dt.timedelta(days=2))
    lockout.record_failure(keys)
    assert SignInThrottle.objects.get().failures == 1
    assert lockout.locked_until(keys) is None


# Session timeouts


def signed_in_client(user: User) -> Client:
    client = Client()
    assert sign_in_post(client, user.username, PASSWORD).status_code == 302
    return client


def age_session(client: Client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = time.time() - seconds
    session.save()


def test_idle_session_ends(caseworker: User, settings: Any) -> None:
    settings.TUTELA_SESSION_IDLE_TIMEOUT = 600
    client = signed_in_client(caseworker)
    age_session(client, SEEN_AT, 601)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_active_session_continues(caseworker: User, settings: Any) -> None:
    settings.TUTELA_SESSION_IDLE_TIMEOUT = 600
    client = signed_in_client(caseworker)
    age_session(client, SEEN_AT, 500)
    assert client.get("/password/").status_code == 200


def test_session_ends_at_absolute_timeout(caseworker: User, settings: Any) -> None:
    settings.SESSION_COOKIE_AGE = 3600
    client = signed_in_client(caseworker)
    age_session(client, SIGNED_IN_AT, 3601)
    response = client.get("/password/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


# MFA required by role


@pytest.fixture
def manager(agency: Any) -> User:
    role = Role.objects.create(unique_id="mfa-manager", name={"en": "Manager"}, mfa_required=True)
    return User.objects.create_user("mona", password=PASSWORD, agency=agency, role=role)


def add_totp(user: User) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def test_role_requiring_mfa_sends_to_enrolment(manager: User) -> None:
    client = signed_in_client(manager)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/"
    assert client.get("/accounts/2fa/").status_code == 200


def test_role_requiring_mfa_blocks_session_api(manager: User) -> None:
    response = signed_in_client(manager).get("/api/v1/records/case")
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_enrolment_required"


def test_role_requiring_mfa_keeps_api_tokens(manager: User) -> None:
    _, text = issue_token(manager, "integration")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    response = client.get("/api/v1/records/case")
    # The role may still lack permission to list cases; only the MFA requirement is checked.
    assert response.json().get("code") != "mfa_enrolment_required"


def test_role_without_mfa_needs_no_enrolment(caseworker: User) -> None:
    assert signed_in_client(caseworker).get("/password/").status_code == 200


def test_totp_enrolment_is_audited_and_unblocks(
    manager: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in_client(manager)
    # allauth asks for the password again before any MFA change.
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.get("Location")
    code = totp_code(client.session[SECRET_SESSION_KEY])
    # allauth sends its signal, and so the audit entry is written, after the commit.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=manager, type="totp").exists()
    added = AuditEntry.objects.filter(action="auth.mfa_add", actor_id=manager.pk)
    # The first authenticator also brings recovery codes.
    assert sorted(entry.details["type"] for entry in added) == ["recovery_codes", "totp"]
    assert client.get("/password/").status_code == 200


def test_wrong_totp_code_is_audited(manager: User) -> None:
    add_totp(manager)
    client = Client()
    response = sign_in_post(client, "mona", PASSWORD)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert "_auth_user_id" not in client.session
    assert len(sign_in_failures("mfa_failed")) == 1


# Mail


@dataclass
class Inbox:
    messages: list[tuple[bool, bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.ssl is not None, envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MailServer:
    port: int
    inbox: Inbox
    ca_file: Path


@pytest.fixture
def mail_server(tmp_path: Path, settings: Any) -> Iterator[MailServer]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    server = MailServer(controller.port, inbox, ca_file)
    use_mail_server(settings, server, server.ca_file)
    settings.TUTELA_BASE_URL = "http://testserver"
    yield server
    controller.stop()


def use_mail_server(settings: Any, server: MailServer, ca_file: Path | None) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "tutela.signin.mail.StartTlsEmailBackend",
            "OPTIONS": {
                "host": "127.0.0.1",
                "port": server.port,
                "use_tls": True,
                "timeout": 10,
                "ca_file": str(ca_file) if ca_file else "",
            },
        }
    }


def received_link(server: MailServer) -> tuple[email.message.Message, str, str]:
    """Return the last message, its body and the token of the link in it."""
    tls, content = server.inbox.messages[-1]
    assert tls
    message = email.message_from_bytes(content)
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    match = re.search(r"http://testserver/welcome/#token=([\w-]+)", body)
    assert match, body
    return message, body, match.group(1)


def set_password(
    client: Client,
    token: str,
    password: str = "lantern orchard violet",  # noqa: S107
) -> Any:
    return client.post(
        "/welcome/", {"token": token, "new_password1": password, "new_password2": password}
    )


@pytest.mark.django_db
def test_onboarding_email_link_works_once(mail_server: MailServer) -> None:
    call_command("user", "create", "nadia", "--email", "nadia@example.org", "--locale", "fr")

    message, body, token = received_link(mail_server)
    assert message["To"] == "nadia@example.org"
    assert message["Content-Language"] == "fr"
    assert "nadia" in body
    assert token not in str(message["Subject"])
    user = User.objects.get(username="nadia")
    assert not user.has_usable_password()

    client = Client()
    assert client.get("/welcome/").status_code == 200
    response = set_password(client, token)
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/?next=%2Faccounts%2F2fa%2F"
    user.refresh_from_db()
    assert user.check_password("lantern orchard violet")

    again = set_password(Client(), token, "another lantern violet")
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    user.refresh_from_db()
    assert user.check_password("lantern orchard violet")
    assert AuditEntry.objects.filter(action="auth.password_set", actor_id=user.pk).count() == 1


@pytest.mark.django_db
def test_onboarding_link_expires(mail_server: MailServer) -> None:
    call_command("user", "create", "nadia", "--email", "nadia@example.org")
    _, _, token = received_link(mail_server)
    SignInLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = set_password(Client(), token)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not User.objects.get(username="nadia").has_usable_password()


@pytest.mark.django_db
def test_new_link_replaces_the_old_one(mail_server: MailServer) -> None:
    call_command("user", "create", "nadia", "--email", "nadia@example.org")
    _, _, first = received_link(mail_server)
    call_command("user", "invite", "nadia")
    _, _, second = received_link(mail_server)
    assert set_password(Client(), first).status_code == 410
    assert set_password(Client(), second).status_code == 302


@pytest.mark.django_db
def test_set_password_checks_the_password_list(mail_server: MailServer) -> None:
    call_command("user", "create", "nadia", "--email", "nadia@example.org")
    _, _, token = received_link(mail_server)
    response = set_password(Client(), token, "password12345")
    assert response.status_code == 200
    assert "common or breached" in response.content.decode()
    assert SignInLink.objects.get().used_at is None


def test_password_reset_by_email(caseworker: User, mail_server: MailServer) -> None:
    caseworker.email = "amina@example.org"
    caseworker.save()
    response = Client().post("/password/forgot/", {"login": "amina@example.org"})
    assert response.status_code == 200
    _, body, token = received_link(mail_server)
    assert "reset the password" in body
    assert set_password(Client(), token).status_code == 302
    caseworker.refresh_from_db()
    assert caseworker.check_password("lantern orchard violet")


def test_password_reset_for_unknown_account_sends_nothing(
    caseworker: User, mail_server: MailServer
) -> None:
    response = Client().post("/password/forgot/", {"login": "nobody@example.org"})
    assert response.status_code == 200
    assert mail_server.inbox.messages == []


@pytest.mark.django_db
def test_untrusted_mail_certificate_rejected(
    mail_server: MailServer, settings: Any, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    use_mail_server(settings, mail_server, other_ca)
    with pytest.raises(CommandError, match=r"could not be sent.*SSLCertVerificationError"):
        call_command("user", "create", "nadia", "--email", "nadia@example.org")
    assert mail_server.inbox.messages == []


@pytest.mark.django_db
def test_failed_reset_suggests_reset_again(
    caseworker: User, mail_server: MailServer, settings: Any, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    use_mail_server(settings, mail_server, other_ca)
    caseworker.email = "amina@example.org"
    caseworker.save(update_fields=["email"])
    with pytest.raises(CommandError, match=f"then run: tutela user reset {caseworker.username}$"):
        call_command("user", "reset", caseworker.username)


def test_plain_smtp_refused_unless_allowed() -> None:
    with pytest.raises(ImproperlyConfigured, match="without TLS"):
        StartTlsEmailBackend(alias="test", host="127.0.0.1", port=25, use_tls=False)
    backend = StartTlsEmailBackend(
        alias="test", host="127.0.0.1", port=25, use_tls=False, allow_plain=True
    )
    assert not backend.use_tls


def test_new_user_screen_for_administrators(
    caseworker: User, mail_server: MailServer, agency: Any
) -> None:
    Role.objects.get_or_create(unique_id="caseworker", defaults={"name": {"en": "Caseworker"}})
    admin = User.objects.create_user("root", password=PASSWORD, is_superuser=True)
    client = signed_in_client(admin)
    response = client.post(
        "/users/new/",
        {
            "username": "nadia",
            "email": "nadia@example.org",
            "locale": "ar",
            "agency": agency.pk,
            "role": "caseworker",
        },
    )
    assert response.status_code == 302
    message, _, _ = received_link(mail_server)
    assert message["Content-Language"] == "ar"
    assert User.objects.get(username="nadia").role.unique_id == "caseworker"
    created = AuditEntry.objects.get(action="user.create")
    assert created.actor_id == admin.pk
    assert signed_in_client(caseworker).get("/users/new/").status_code == 403


def test_wrong_totp_codes_lock_the_account(manager: User, settings: Any) -> None:
    settings.TUTELA_LOCKOUT_FREE_FAILURES = 2
    secret = add_totp(manager)
    client = Client()
    sign_in_post(client, "mona", PASSWORD)
    for _ in range(3):
        client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    # The half-done sign-in has ended; the right code no longer signs in.
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert "_auth_user_id" not in client.session
    again = sign_in_post(client, "mona", PASSWORD)
    assert "Too many failed sign-ins" in again.content.decode()
    assert response.status_code == 302


def test_recovery_code_signs_in_once(manager: User) -> None:
    add_totp(manager)
    code = RecoveryCodes.activate(manager).get_unused_codes()[0]

    first = Client()
    sign_in_post(first, "mona", PASSWORD)
    response = first.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert first.session["_auth_user_id"] == str(manager.pk)

    second = Client()
    sign_in_post(second, "mona", PASSWORD)
    second.post("/accounts/2fa/authenticate/", {"code": code})
    assert "_auth_user_id" not in second.session


def test_totp_removal_is_audited(manager: User, django_capture_on_commit_callbacks: Any) -> None:
    secret = add_totp(manager)
    client = Client()
    sign_in_post(client, "mona", PASSWORD)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=manager, type="totp").exists()
    removed = AuditEntry.objects.get(action="auth.mfa_remove")
    assert removed.details == {"type": "totp"}


def test_password_reset_sends_one_link_per_five_minutes(
    caseworker: User, mail_server: MailServer
) -> None:
    caseworker.email = "amina@example.org"
    caseworker.save()
    for _ in range(3):
        Client().post("/password/forgot/", {"login": "amina"})
    assert len(mail_server.inbox.messages) == 1
    SignInLink.objects.update(created_at=timezone.now() - dt.timedelta(minutes=6))
    Client().post("/password/forgot/", {"login": "amina"})
    assert len(mail_server.inbox.messages) == 2


@pytest.mark.django_db
def test_allauth_sign_in_address_shows_tutela_page() -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert "sign up" not in response.content.decode().lower()
    assert 'href="/password/forgot/"' in response.content.decode()


@pytest.mark.django_db
def test_self_sign_up_is_closed() -> None:
    response = Client().post(
        "/accounts/signup/",
        {"username": "eve", "password1": "lantern orchard violet", "password2": "x"},
    )
    assert "No self sign-up" in response.content.decode()
    assert not User.objects.filter(username="eve").exists()


def test_office_address_signs_in_many_users(caseworker: User) -> None:
    # Staff behind one office address sign in at the start of a shift.
    for _ in range(35):
        assert sign_in_post(Client(), "amina", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_user_create_gives_the_role(mail_server: MailServer) -> None:
    Role.objects.get_or_create(unique_id="caseworker", defaults={"name": {"en": "Caseworker"}})
    call_command("user", "create", "nadia", "--email", "nadia@example.org", "--role", "caseworker")
    nadia = User.objects.get(username="nadia")
    assert nadia.role is not None
    assert nadia.role.unique_id == "caseworker"


@pytest.mark.django_db
def test_user_create_rejects_unknown_role(mail_server: MailServer) -> None:
    with pytest.raises(CommandError, match="No role has the unique_id 'nobody'"):
        call_command("user", "create", "nadia", "--email", "n@example.org", "--role", "nobody")
    assert not User.objects.filter(username="nadia").exists()
    assert mail_server.inbox.messages == []
