"""An administrator changes the default forms in Chromium, against pytest-django's live server."""

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser import screenshot
from tutela.access.models import Role, User
from tutela.configuration.models import Field

pytestmark = pytest.mark.browser

CONSENT = "/configuration/types/case/sections/case_consent/"


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> str:
    call_command("config", "load-default", verbosity=0)
    # A role that manages the configuration without requiring MFA, which these tests skip.
    role = Role.objects.create(
        unique_id="configurator",
        name={"en": "Configurator"},
        permissions={"configuration": ["manage"]},
        mfa_required=False,
    )
    User.objects.create_user("ada", password="correct horse battery", role=role)
    return str(live_server.url)


def sign_in(page: Any, site: str) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")


def field_order(section: str) -> list[str]:
    fields = Field.objects.filter(section__unique_id=section, archived=False)
    return list(fields.order_by("order", "id").values_list("name", flat=True))


def test_move_field_up_in_place(page: Any, site: str) -> None:
    sign_in(page, site)
    page.get_by_role("link", name="Configuration").click()
    page.get_by_role("link", name="Case", exact=True).click()
    page.get_by_role("link", name="Consent", exact=True).click()
    expect(page).to_have_url(f"{site}{CONSENT}")

    # htmx posts the move and swaps in the new table, so the page stays where it is.
    page.get_by_role("button", name="Move Consent given up").click()
    first_row = page.locator("#fields tbody tr").first
    expect(first_row).to_contain_text("Consent given")
    expect(page).to_have_url(f"{site}{CONSENT}")
    assert field_order("case_consent")[:2] == ["consent_given", "consent_process_explained"]
    screenshot(page, "configuration-1-moved")


def test_label_translation_shows_in_arabic(page: Any, site: str) -> None:
    sign_in(page, site)
    page.goto(f"{site}{CONSENT}fields/consent_given/")
    labels = page.locator("#labels")
    labels.get_by_label("Arabic").first.fill("تمت الموافقة")
    labels.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the field consent_given.")).to_be_visible()

    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Change language").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("h1")).to_contain_text("تمت الموافقة")
    screenshot(page, "configuration-2-arabic")
