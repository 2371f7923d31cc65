"""The Content Security Policy in Chromium: pages work and report no violation.

The `page` fixture (tests/browser.py) fails any browser test whose console reports a
violation; these tests visit the pages that no other browser test opens.
"""

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_api_docs_render_under_policy(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Tutela API")


def test_inline_script_blocked(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/sign-in/")
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = 1'; document.head.appendChild(s); }"
    )
    assert page.evaluate("() => window.injected") is None
    assert any("Content Security Policy" in text for text in messages)
    # Expected here, so the fixture must not fail the test on it.
    page.csp_violations.clear()


def test_audit_screens_render_under_policy(
    page: Any, live_server: Any, sample_config: None, caseworker: Any
) -> None:
    from django.test import Client

    from tutela.access.models import User
    from tutela.records import actions

    auditor = User.objects.create_superuser("ines", email="", password="correct horse battery")
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    client = Client()
    client.force_login(auditor)
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])

    page.goto(f"{live_server.url}/audit/?action=case.*")
    assert page.locator("table.audit-entries code", has_text="case.create").count() == 1
    page.goto(f"{live_server.url}/cases/{record.pk}/")
    page.get_by_role("link", name="Access log").click()
    page.wait_for_url(f"**/cases/{record.pk}/access-log")
    assert page.locator("table.audit-entries code", has_text="case.view").count() == 1
