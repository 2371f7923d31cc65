"""Sign-in in Chromium: a TOTP code, a WebAuthn security key and OpenID Connect.

The security key is Chromium's virtual authenticator, driven through the DevTools protocol.
The identity provider is the npm package oidc-provider, started on loopback by the test.
"""

import json
import os
import re
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser import screenshot
from tests.signin_support import totp_code
from tests.test_accessibility import blocking_violations, scan, sign_in_through_cookie
from tutela.access.models import Role, User
from tutela.audit.models import AuditEntry, Outcome
from tutela.settings import oidc_app
from tutela.signin import onboarding

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
PROVIDER_READY_SECONDS = 20


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> str:
    return str(live_server.url)


@pytest.fixture
def user(transactional_db: None) -> User:
    return User.objects.create_user("amina", password=PASSWORD)


def enter_password(page: Any, site: str, username: str = "amina") -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_totp_code(page: Any, site: str, user: User) -> None:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)

    enter_password(page, site)
    page.wait_for_url(f"{site}/accounts/2fa/authenticate/")
    screenshot(page, "signin-1-totp-code")
    page.locator("input[name=code]").fill(totp_code(secret))
    page.get_by_role("button", name="Sign In").click()

    page.wait_for_url(f"{site}/")
    expect(page.locator(".who")).to_have_text("amina")


def wait_for_page(page: Any, url: str, name: str) -> None:
    """Wait for `url`; on a timeout, keep a screenshot and name the page the browser is on."""
    try:
        page.wait_for_url(url)
    except PlaywrightTimeoutError:
        screenshot(page, name)
        raise AssertionError(f"expected {url}, the browser is on {page.url}") from None


def add_virtual_authenticator(page: Any) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, authenticator["authenticatorId"]


def test_sign_in_with_webauthn_key(page: Any, site: str, user: User, settings: Any) -> None:
    # The live server serves plain HTTP on localhost, which the browser treats as a secure
    # context. The fido2 library checks the origin itself, so this setting allows HTTP there.
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    assert site.startswith("http://localhost:")
    cdp, authenticator_id = add_virtual_authenticator(page)

    enter_password(page, site)
    page.wait_for_url(f"{site}/")
    page.goto(f"{site}/accounts/2fa/webauthn/add/")
    # allauth asks for the password again before an MFA change.
    page.wait_for_url(f"{site}/accounts/reauthenticate/**")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{site}/accounts/2fa/webauthn/add/")
    page.get_by_label("Name").fill("Laptop key")
    page.get_by_role("button", name="Add").click()
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    assert Authenticator.objects.filter(user=user, type="webauthn").exists()
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert len(credentials["credentials"]) == 1

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/sign-in/")
    enter_password(page, site)
    wait_for_page(page, f"{site}/accounts/2fa/authenticate/", "signin-2-no-key-prompt")
    screenshot(page, "signin-2-security-key")
    page.get_by_role("button", name="Use a security key").click()

    page.wait_for_url(f"{site}/")
    expect(page.locator(".who")).to_have_text("amina")
    used = AuditEntry.objects.filter(action="auth.sign_in", actor_id=user.pk).count()
    assert used == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class IdentityProvider:
    issuer: str
    client_secret: str


def start_provider(
    redirect_uri: str, accounts: dict[str, Any]
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    secret = os.urandom(16).hex()
    env = {**os.environ, "OIDC_CLIENT_SECRET": secret, "OIDC_ACCOUNTS": json.dumps(accounts)}
    process = subprocess.Popen(
        ["node", str(ROOT / "tests" / "oidc_provider.mjs"), str(port), redirect_uri],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    # oidc-provider prints warnings (development keys, in-memory storage) before "ready".
    output: list[str] = []
    line = ""
    deadline = time.monotonic() + PROVIDER_READY_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line or line.strip() == "ready":
                break
            output.append(line)
    if line.strip() != "ready":
        process.kill()
        process.communicate()
        raise AssertionError(f"oidc-provider did not start: {''.join(output)}")
    return process, secret


@pytest.fixture
def identity_provider(site: str, settings: Any) -> Iterator[IdentityProvider]:
    if not (ROOT / "node_modules" / "oidc-provider").exists():
        pytest.skip("node_modules/oidc-provider is missing: run npm ci")
    accounts = {
        "kofi": {"preferred_username": "kofi", "email": "kofi@example.org", "groups": ["cp-leads"]},
        "stranger": {"preferred_username": "stranger", "groups": ["cp-leads"]},
    }
    redirect_uri = f"{site}/accounts/oidc/oidc/login/callback/"
    process, secret = start_provider(redirect_uri, accounts)
    issuer = f"http://127.0.0.1:{process.args[2]}"
    app = oidc_app(issuer, "tutela", secret, "Ministry sign-on")
    app["settings"]["scope"] = ["openid", "profile", "email", "groups"]
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [app]}}
    settings.TUTELA_OIDC_ROLE_MAP = {"cp-leads": "team-lead"}
    yield IdentityProvider(issuer, secret)
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def sign_in_at_provider(page: Any, site: str, login: str) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_role("button", name="Ministry sign-on").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def test_sign_in_through_openid_connect(
    page: Any, site: str, identity_provider: IdentityProvider, settings: Any
) -> None:
    lead = Role.objects.create(unique_id="team-lead", name={"en": "Team lead"}, mfa_required=False)
    kofi = User.objects.create_user("kofi", password=None)

    sign_in_at_provider(page, site, "kofi")

    page.wait_for_url(f"{site}/")
    expect(page.locator(".who")).to_have_text("kofi")
    kofi.refresh_from_db()
    assert kofi.role == lead
    assert AuditEntry.objects.filter(action="auth.sign_in", actor_id=kofi.pk).exists()
    change = AuditEntry.objects.get(action="user.role_change", object_id=str(kofi.pk))
    assert change.details == {"old": None, "new": "team-lead", "source": "oidc"}

    # The mapping applies again at the next sign-in: here it now sends the group elsewhere.
    Role.objects.create(unique_id="supervisor", name={"en": "Supervisor"}, mfa_required=False)
    settings.TUTELA_OIDC_ROLE_MAP = {"cp-leads": "supervisor"}
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site}/sign-in/")
    page.get_by_role("button", name="Ministry sign-on").click()
    # The provider remembers the session and the consent, so it sends the browser straight back.
    page.wait_for_url(f"{site}/")
    kofi.refresh_from_db()
    assert kofi.role is not None
    assert kofi.role.unique_id == "supervisor"


def test_openid_connect_rejects_unknown_user(
    page: Any, site: str, identity_provider: IdentityProvider
) -> None:
    Role.objects.create(unique_id="team-lead", name={"en": "Team lead"}, mfa_required=False)

    sign_in_at_provider(page, site, "stranger")

    expect(page.get_by_role("heading", name="No Tutela account")).to_be_visible()
    assert not User.objects.filter(username="stranger").exists()
    rejected = AuditEntry.objects.get(action="auth.sign_in", outcome=Outcome.FAILURE)
    assert rejected.details == {"reason": "unknown_user", "method": "oidc"}


@pytest.mark.parametrize("language", ["en", "ar"])
def test_signin_pages_pass_axe_scan(page: Any, site: str, user: User, language: str) -> None:
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site}]
    )
    found = []
    for path in ("/sign-in/", "/welcome/", "/password/forgot/"):
        found += scan(page, f"{site}{path}", f"{language}-signin{path.replace('/', '-')}")
    direction = "rtl" if language == "ar" else "ltr"
    assert page.locator("html").get_attribute("dir") == direction

    TOTP.activate(user, generate_totp_secret())
    page.goto(f"{site}/sign-in/")
    page.locator("input[name=login]").fill("amina")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button.primary[type=submit]").click()
    page.wait_for_url(f"{site}/accounts/2fa/authenticate/")
    found += [f"{language} MFA code page: {line}" for line in blocking_violations(page)]
    page.get_by_role("button", name=re.compile("Cancel|إلغاء")).first.click()

    sign_in_through_cookie(page, site, user, language)
    for path in ("/accounts/2fa/", "/accounts/reauthenticate/"):
        found += scan(page, f"{site}{path}", f"{language}-signin{path.replace('/', '-')}")
    assert page.locator("html").get_attribute("dir") == direction
    assert found == []


def test_openid_connect_creates_user_when_allowed(
    page: Any, site: str, identity_provider: IdentityProvider, settings: Any
) -> None:
    settings.TUTELA_OIDC_CREATE_USERS = True
    lead = Role.objects.create(unique_id="team-lead", name={"en": "Team lead"}, mfa_required=False)

    sign_in_at_provider(page, site, "stranger")

    page.wait_for_url(f"{site}/")
    created = User.objects.get(username="stranger")
    assert created.role == lead
    assert not created.has_usable_password()


def test_onboarding_link_leads_to_mfa_setup(page: Any, site: str) -> None:
    nadia = onboarding.create_user("nadia", "nadia@example.org")
    token = onboarding.create_link(nadia, onboarding.Purpose.ONBOARDING)

    page.goto(f"{site}/welcome/#token={token}")
    # The script moves the token into the form and out of the address bar.
    page.wait_for_function("() => window.location.hash === ''")
    page.get_by_label("New password", exact=True).fill("lantern orchard violet")
    page.get_by_label("New password again").fill("lantern orchard violet")
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(f"{site}/sign-in/?next=%2Faccounts%2F2fa%2F")

    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Password").fill("lantern orchard violet")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/accounts/2fa/")
    screenshot(page, "signin-3-mfa-setup")
