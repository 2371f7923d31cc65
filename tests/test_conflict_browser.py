"""An edit conflict made from two browser contexts, resolved one field from each side."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser import screenshot
from tutela.access.models import Role
from tutela.records import actions
from tutela.records.models import Record, RecordHistory

pytestmark = pytest.mark.browser
SECTION = "case_registration_identity"


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> str:
    call_command("config", "load-default", verbosity=0)
    return str(live_server.url)


@pytest.fixture
def case(site: str, caseworker: Any, colleague: Any) -> Record:
    # Amina and Bruno share team one; with group scope Bruno may edit Amina's case.
    Role.objects.filter(unique_id="caseworker").update(record_scope="group")
    return actions.create_record(
        "case",
        {
            "name_first": "Layla",
            "name_last": "Haddad",
            "sex": "female",
            "registration_date": timezone.localdate().isoformat(),
            "phone": "555 0100",
            "address": "Block 1",
        },
        caseworker,
    )


@pytest.fixture
def second_page(chromium: Any) -> Iterator[Any]:
    """A second browser, as another person on another device: its own context and cookies."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def sign_in(page: Any, site: str, username: str) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")


def test_conflict_resolved_one_field_from_each_side(
    page: Any, second_page: Any, site: str, case: Record, caseworker: Any, colleague: Any
) -> None:
    edit = f"{site}/cases/{case.pk}/sections/{SECTION}/edit"
    amina, bruno = page, second_page
    sign_in(amina, site, "amina")
    sign_in(bruno, site, "bruno")

    # Both open the same section at version 1.
    amina.goto(edit)
    bruno.goto(edit)

    # Bruno saves first.
    bruno.get_by_label("Phone number").fill("555 0202")
    bruno.get_by_label("Address", exact=True).fill("Camp B, tent 12")
    bruno.get_by_role("button", name="Save").click()
    bruno.wait_for_url(re.compile(rf"#section-{SECTION}$"))

    # Amina saves over the same two fields and meets the conflict.
    amina.get_by_label("Phone number").fill("555 0101")
    amina.get_by_label("Address", exact=True).fill("Block 4")
    amina.get_by_role("button", name="Save").click()
    summary = amina.locator("#conflict-summary")
    expect(summary).to_contain_text("Someone else saved this record")
    expect(summary).to_contain_text("bruno")
    phone = amina.locator("#conflict-phone")
    expect(phone).to_contain_text("555 0202")
    expect(phone).to_contain_text("555 0101")
    expect(phone).to_contain_text("555 0100")
    # What she typed is still in the form.
    expect(amina.get_by_label("Phone number")).to_have_value("555 0101")
    screenshot(amina, "conflict-1-choose")
    amina.set_viewport_size({"width": 1280, "height": 900})
    phone.scroll_into_view_if_needed()
    screenshot(amina, "conflict-1-choose-wide")

    phone.get_by_label("Keep mine").check()
    amina.locator("#conflict-address").get_by_label("Take theirs").check()
    amina.get_by_role("button", name="Save").click()
    amina.wait_for_url(re.compile(rf"#section-{SECTION}$"))
    expect(amina.locator(f"#section-{SECTION}")).to_contain_text("555 0101")
    expect(amina.locator(f"#section-{SECTION}")).to_contain_text("Camp B, tent 12")
    screenshot(amina, "conflict-2-saved")

    case.refresh_from_db()
    assert case.data["phone"] == "555 0101"
    assert case.data["address"] == "Camp B, tent 12"
    history = list(RecordHistory.objects.filter(record=case).order_by("version"))
    assert [(h.version, h.user.username if h.user else None) for h in history] == [
        (1, "amina"),
        (2, "bruno"),
        (3, "amina"),
    ]
    assert history[2].changes == {"phone": {"old": "555 0202", "new": "555 0101"}}

    amina.get_by_role("link", name="History of changes").click()
    latest = amina.locator(".history-entry").first
    expect(latest).to_contain_text("by amina")
    expect(latest).to_contain_text("555 0101")
    screenshot(amina, "conflict-3-history")
