"""A caseworker's day in Chromium against pytest-django's live server and the default forms."""

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser import screenshot
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.browser


@pytest.fixture
def default_config(transactional_db: None) -> None:
    call_command("config", "load-default", verbosity=0)


@pytest.fixture
def site(live_server: Any, default_config: None, caseworker: Any) -> str:
    return str(live_server.url)


def registered_today() -> dict[str, str]:
    return {"registration_date": timezone.localdate().isoformat()}


def sign_in(page: Any, site: str) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill("amina")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")


def register(page: Any, site: str) -> None:
    page.goto(f"{site}/cases/new")
    page.get_by_label("First name").fill("Layla")
    page.get_by_label("Last name").fill("Haddad")
    page.get_by_label("Sex").select_option("female")
    page.get_by_role("button", name="Register", exact=True).click()


def test_register_through_the_duplicate_warning(page: Any, site: str, caseworker: Any) -> None:
    existing = actions.create_record(
        "case",
        {"name_first": "Leila", "name_last": "Hadad", "sex": "female", **registered_today()},
        caseworker,
    )
    sign_in(page, site)

    register(page, site)
    warning = page.locator("#duplicates")
    expect(warning.get_by_text(existing.short_id)).to_be_visible()
    screenshot(page, "web-1-duplicate-warning")

    page.get_by_role("button", name="This is a new child: register anyway").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}/$"))
    expect(page.get_by_text("Registered case")).to_be_visible()
    # The display name is stored encrypted (names are sensitive), so it is compared once read.
    assert "Layla Haddad" in [r.display_name for r in Record.objects.all()]


def test_edit_two_sections_and_read_history(page: Any, site: str, caseworker: Any) -> None:
    record = actions.create_record(
        "case",
        {"name_first": "Layla", "name_last": "Haddad", "sex": "female", **registered_today()},
        caseworker,
    )
    sign_in(page, site)

    # First section: choosing a high risk level shows, live, the field that skip logic hides.
    page.goto(f"{site}/cases/{record.pk}/sections/case_protection_concerns/edit")
    concerns = page.get_by_role("group", name=re.compile("^Protection concerns"))
    concerns.get_by_label("Neglect", exact=True).check()
    actions_taken = page.get_by_label("Immediate safety actions taken")
    expect(actions_taken).to_be_hidden()
    page.get_by_label(re.compile("^Risk level")).select_option("high")
    expect(actions_taken).to_be_visible()
    actions_taken.fill("Placed with an aunt the same day")
    screenshot(page, "web-2a-section-edit")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"#section-case_protection_concerns$"))
    expect(page.get_by_text("Placed with an aunt the same day")).to_be_visible()

    # Second section, with a new subform row.
    page.goto(f"{site}/cases/{record.pk}/sections/case_family_care/edit")
    page.get_by_label("Current care arrangement").select_option("both_parents")
    new_row = page.locator("fieldset.blank-row")
    new_row.get_by_label("Name").fill("Mariam Haddad")
    new_row.get_by_label("Relationship to the child").select_option("sibling")
    screenshot(page, "web-2-subform-edit")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"#section-case_family_care$"))
    expect(
        page.locator("#section-case_family_care .row-card").get_by_text("Mariam Haddad")
    ).to_be_visible()

    page.get_by_role("link", name="History of changes").click()
    changes = page.locator(".history-entry").first
    expect(changes.get_by_text("Family members, row 1: Name")).to_be_visible()
    expect(changes.get_by_text("Mariam Haddad")).to_be_visible()
    screenshot(page, "web-3-history")
    stored = Record.objects.get(pk=record.pk)
    assert stored.version == 3
    assert stored.data["risk_level"] == "high"
    assert stored.data["family_members"][0]["family_member_name"] == "Mariam Haddad"


def test_arabic_switches_the_page_to_right_to_left(page: Any, site: str) -> None:
    sign_in(page, site)
    page.goto(f"{site}/cases/")

    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Change language").click()
    page.wait_for_load_state()

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("main")).to_have_css("direction", "rtl")
    # Right to left, the top bar starts with the name Tutela at its right end.
    brand = page.locator(".brand").bounding_box()
    assert brand["x"] > page.viewport_size["width"] / 2
    assert screenshot(page, "web-4-arabic").stat().st_size > 0
