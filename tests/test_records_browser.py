"""Attachments and the home page in Chromium: a photo chosen, previewed, uploaded and shown."""

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from tests.browser import screenshot
from tutela.attachments.models import Attachment
from tutela.records import actions
from tutela.records.models import Record

pytestmark = pytest.mark.browser
SECTION = "case_registration_identity"


@pytest.fixture
def site(live_server: Any, transactional_db: None, settings: Any, tmp_path: Path) -> str:
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("config", "load-default", verbosity=0)
    return str(live_server.url)


@pytest.fixture
def case(site: str, caseworker: Any) -> Record:
    return actions.create_record(
        "case",
        {
            "name_first": "Layla",
            "name_last": "Haddad",
            "sex": "female",
            "registration_date": timezone.localdate().isoformat(),
        },
        caseworker,
    )


def photo(path: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def sign_in(page: Any, site: str) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill("amina")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")


def test_photo_is_previewed_uploaded_and_shown(
    page: Any, site: str, case: Record, tmp_path: Path
) -> None:
    sign_in(page, site)
    page.goto(f"{site}/cases/{case.pk}/sections/{SECTION}/edit")

    page.get_by_label("Add files").set_input_files(str(photo(tmp_path / "layla.jpg")))
    expect(page.locator(".file-preview img")).to_have_count(1)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"#section-{SECTION}$"))

    attachment = Attachment.objects.get()
    thumbnail = page.locator(f'img[src="/attachments/{attachment.pk}/thumbnail"]')
    expect(thumbnail).to_be_visible()
    # Visible comes before loaded: the decrypted thumbnail streams in after the page.
    page.wait_for_function("(img) => img.complete", arg=thumbnail.element_handle())
    assert page.evaluate("(img) => img.naturalWidth", thumbnail.element_handle()) == 320
    screenshot(page, "records-1-photo")


def test_home_lists_the_case_just_viewed(page: Any, site: str, case: Record) -> None:
    sign_in(page, site)
    page.goto(f"{site}/cases/{case.pk}/")
    page.goto(f"{site}/")
    expect(page.locator("#recent-heading + ul")).to_contain_text(case.short_id)
    screenshot(page, "records-2-home")
