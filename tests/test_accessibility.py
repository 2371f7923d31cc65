"""Accessibility in Chromium: axe-core scans of the caseworker's pages, and keyboard use.

axe-core comes from npm: package-lock.json pins it, and `make test` runs `npm ci` when
node_modules is missing. A scan fails on any violation whose impact is serious or critical.
"""

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.browser import screenshot
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
EDIT_SECTION = "case_family_care"


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> str:
    call_command("config", "load-default", verbosity=0)
    return str(live_server.url)


@pytest.fixture
def case(site: str, caseworker: Any) -> Record:
    """A case with values in the scanned section, a subform row and two history entries."""
    record = actions.create_record(
        "case",
        {
            "name_first": "Layla",
            "name_last": "Haddad",
            "sex": "female",
            "registration_date": timezone.localdate().isoformat(),
        },
        caseworker,
    )
    return actions.update_record(
        record.pk,
        {
            "care_arrangement": "both_parents",
            "family_members": [
                {
                    "unique_id": "row-1",
                    "family_member_name": "Mariam Haddad",
                    "family_member_relationship": "sibling",
                }
            ],
        },
        caseworker,
        base_version=record.version,
    )


def sign_in_through_cookie(page: Any, site: str, user: Any, language: str) -> None:
    """Give the browser a session for `user` and a language cookie, without the sign-in form."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": site},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site},
        ]
    )


def blocking_violations(page: Any) -> list[str]:
    """Run axe-core on the page and describe each serious or critical violation in one line."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does it)")
    # Evaluated through the DevTools protocol, which the page's Content Security Policy does not
    # govern. A <script> tag with the file's text would be inline script, which the policy blocks.
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    lines = []
    for violation in result["violations"]:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"at {', '.join(targets)}"
        )
    return lines


def scan(page: Any, url: str, name: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("load")
    found = blocking_violations(page)
    if found:
        screenshot(page, f"a11y-{name}")
    return [f"{name} ({url}): {line}" for line in found]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_pages_pass_axe_scan(
    page: Any, site: str, case: Record, caseworker: Any, language: str
) -> None:
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site}]
    )
    found = scan(page, f"{site}/sign-in/", f"{language}-sign-in")
    found += scan(page, f"{site}/offline/{language}/", f"{language}-offline")
    sign_in_through_cookie(page, site, caseworker, language)
    edit = f"{site}/cases/{case.pk}/sections/{EDIT_SECTION}/edit"
    found += scan(page, f"{site}/", f"{language}-home")
    found += scan(page, f"{site}/cases/", f"{language}-case-list")
    found += scan(page, f"{site}/cases/{case.pk}/", f"{language}-case-view")
    found += scan(page, f"{site}/cases/{case.pk}/history", f"{language}-case-history")
    found += scan(page, edit, f"{language}-case-edit")

    # The edit page again, with a validation message at a field.
    page.locator('[name="f_family_members.0.family_member_age"]').fill("many")
    page.locator("form.record-form button[type=submit].primary").click()
    page.wait_for_load_state("load")
    assert page.locator(".has-error").count() > 0
    errors = blocking_violations(page)
    found += [f"{language}-case-edit-with-error: {line}" for line in errors]

    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)


def focus_outline(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => {
                const style = getComputedStyle(document.activeElement);
                return {style: style.outlineStyle, width: style.outlineWidth};
            }"""
        )
    )


def tab_until(page: Any, selector: str, limit: int = 80) -> list[str]:
    """Press Tab until the element matching `selector` has focus, and return the focused names.

    Each focused element must show a visible outline: a keyboard user has to see where they are.
    """
    visited: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "() => document.activeElement.name || document.activeElement.id || "
            "document.activeElement.textContent.trim()"
        )
        visited.append(name)
        outline = focus_outline(page)
        assert outline["style"] != "none", f"no focus outline on {name!r}"
        assert outline["width"] not in ("0px", ""), f"zero-width focus outline on {name!r}"
        if page.evaluate(f"() => document.activeElement.matches({selector!r})"):
            return visited
    raise AssertionError(f"Tab never reached {selector} after {limit} presses: {visited}")


def test_keyboard_sign_in_order(page: Any, site: str) -> None:
    page.goto(f"{site}/sign-in/")
    # The form puts the cursor in the username field on arrival.
    assert page.evaluate("() => document.activeElement.name") == "login"
    assert focus_outline(page)["style"] != "none"

    visited = tab_until(page, "button[type=submit].primary")

    assert visited == ["password", "Sign in"]


def test_keyboard_edit_order_reaches_save(
    page: Any, site: str, case: Record, caseworker: Any
) -> None:
    sign_in_through_cookie(page, site, caseworker, "en")
    page.goto(f"{site}/cases/{case.pk}/sections/{EDIT_SECTION}/edit")
    in_dom_order = page.eval_on_selector_all(
        "form.record-form :is(input, select, textarea):not([type=hidden])",
        "elements => elements.filter(e => e.offsetParent !== null).map(e => e.name)",
    )

    # The skip link leads past the menus straight to the form.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    visited = tab_until(page, "form.record-form button[type=submit].primary")
    screenshot(page, "a11y-keyboard-save-focused")

    reached = [name for name in visited if name in in_dom_order]
    # A radio group takes one Tab stop. Every other field is reached, in the order shown.
    expected = [
        name
        for index, name in enumerate(in_dom_order)
        if name not in in_dom_order[:index] or not is_radio(page, name)
    ]
    assert dedupe(reached) == dedupe(expected)
    # Past the skip link, only the two breadcrumb links come before the first field.
    assert visited.index(in_dom_order[0]) == 2
    assert "Register a case" not in visited


def is_radio(page: Any, name: str) -> bool:
    return bool(page.evaluate(f"() => document.getElementsByName({name!r})[0].type === 'radio'"))


def dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
