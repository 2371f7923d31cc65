"""The installable web app: manifest, icons, service worker, offline page, and what is cached."""

import json
import re
import struct
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import expect

from tests.browser import screenshot
from tutela.access.models import User
from tutela.records import actions
from tutela.web import pwa

REQUIRED_MEMBERS = ("name", "short_name", "start_url", "scope", "display", "icons")


def png_size(static_path: str) -> tuple[int, int]:
    """Return (width, height) from a static PNG's IHDR chunk."""
    path = finders.find(static_path)
    assert isinstance(path, str), f"{static_path} is missing"
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{static_path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def static_path(url: str) -> str:
    return url.removeprefix("/static/")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Manifest


def test_manifest_has_required_members(db: None) -> None:
    response = Client().get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    for member in REQUIRED_MEMBERS:
        assert manifest.get(member), f"the manifest has no {member}"
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    assert manifest["scope"] == "/"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])


def test_manifest_icons_have_their_sizes(db: None) -> None:
    manifest = json.loads(Client().get("/manifest.webmanifest").content)
    for icon in manifest["icons"]:
        width, height = png_size(static_path(icon["src"]))
        assert icon["sizes"] == f"{width}x{height}"
        assert icon["type"] == "image/png"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert ("192x192", "any") in sizes
    assert ("512x512", "any") in sizes
    assert ("512x512", "maskable") in sizes


def test_manifest_follows_the_language(db: None) -> None:
    response = Client(headers={"accept-language": "ar"}).get("/manifest.webmanifest")
    manifest = json.loads(response.content)
    assert manifest["lang"] == "ar"
    assert manifest["dir"] == "rtl"


def test_apple_touch_icon_is_180_pixels() -> None:
    assert png_size("web/icons/apple-touch-icon-180.png") == (180, 180)


# Service worker


def test_service_worker_served_from_root(db: None) -> None:
    response = Client().get("/service-worker.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"


def test_unchanged_service_worker_is_304(db: None) -> None:
    etag = Client().get("/service-worker.js")["ETag"]
    response = Client().get("/service-worker.js", headers={"if-none-match": etag})
    assert response.status_code == 304


def test_service_worker_names_caches_by_version(db: None) -> None:
    script = Client().get("/service-worker.js").content.decode()
    config = json.loads(re.search(r"const CONFIG = (\{.*\});", script).group(1))  # type: ignore[union-attr]
    assert config["version"] == pwa.cache_version()
    assert config["shell"] == [f"/static/{name}" for name in pwa.SHELL_FILES]
    for url in config["shell"]:
        assert finders.find(static_path(url)), f"{url} is not a static file"


def test_shell_lists_what_pages_load(db: None) -> None:
    html = Client().get("/sign-in/").content.decode()
    loaded = re.findall(r'(?:src|href)="/static/(web/[^"]+\.(?:css|js))"', html)
    assert sorted(loaded) == sorted(pwa.SHELL_FILES)


def test_cache_version_changes_with_the_shell(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    before = pwa.shell_digest()
    monkeypatch.setattr(pwa.tutela, "__version__", "99.0")
    assert pwa.shell_digest() != before


# Offline page


def test_offline_page_in_each_language(db: None) -> None:
    response = Client().get("/offline/fr/")
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert "Vous êtes hors ligne" in response.content.decode()


def test_offline_page_has_no_token(caseworker: User) -> None:
    html = signed_in(caseworker).get("/offline/en/").content.decode()
    assert "csrfmiddlewaretoken" not in html
    assert caseworker.username not in html


def test_offline_page_unknown_language_is_404(db: None) -> None:
    assert Client().get("/offline/xx/").status_code == 404


def test_offline_page_arabic_is_right_to_left(db: None) -> None:
    assert 'dir="rtl"' in Client().get("/offline/ar/").content.decode()


# Caching and compression


@pytest.mark.usefixtures("sample_config")
def test_signed_in_pages_are_not_stored(caseworker: User) -> None:
    response = signed_in(caseworker).get("/cases/")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


@pytest.mark.usefixtures("sample_config")
def test_pages_are_gzipped(caseworker: User) -> None:
    response = signed_in(caseworker).get("/cases/", headers={"accept-encoding": "gzip, br"})
    assert response["Content-Encoding"] == "gzip"


@pytest.mark.usefixtures("sample_config")
def test_api_json_keeps_its_strong_etag(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    response = signed_in(caseworker).get(
        f"/api/v1/records/case/{record.pk}", headers={"accept-encoding": "gzip"}
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert response["ETag"] == f'"{record.version}"'


# In Chromium


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> str:
    call_command("config", "load-default", verbosity=0)
    return str(live_server.url)


def wait_for_offline_page(page: Any, language: str) -> None:
    """Wait until the service worker controls the page and keeps the offline page."""
    page.wait_for_function(
        """async (language) => {
            if (!navigator.serviceWorker.controller) return false;
            const names = await caches.keys();
            for (const name of names.filter((n) => n.startsWith("tutela-offline-"))) {
                const page = await (await caches.open(name)).match("/offline/");
                if (page && page.headers.get("Content-Language") === language) return true;
            }
            return false;
        }""",
        arg=language,
        polling=200,
    )


def cached_urls(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """async () => {
                const urls = [];
                for (const name of await caches.keys()) {
                    const cache = await caches.open(name);
                    for (const request of await cache.keys()) urls.push(request.url);
                }
                return urls;
            }"""
        )
    )


@pytest.mark.browser
def test_offline_page_shown_without_network(page: Any, site: str, caseworker: Any) -> None:
    values = {"name_first": "Layla", "sex": "female", "registration_date": "2026-01-05"}
    record = actions.create_record("case", values, caseworker)
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Username").fill("amina")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/")
    page.goto(f"{site}/cases/{record.pk}/")
    wait_for_offline_page(page, "en")

    page.context.set_offline(True)
    page.goto(f"{site}/cases/")

    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    screenshot(page, "pwa-offline")
    page.context.set_offline(False)
    urls = cached_urls(page)
    assert f"{site}/static/web/tutela.css" in urls
    assert not [url for url in urls if "/cases/" in url], urls


@pytest.mark.browser
def test_offline_page_follows_the_language(page: Any, site: str, caseworker: Any) -> None:
    page.goto(f"{site}/sign-in/")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change language").click()
    page.wait_for_load_state()
    wait_for_offline_page(page, "fr")

    page.context.set_offline(True)
    page.goto(f"{site}/sign-in/")

    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Vous êtes hors ligne")).to_be_visible()
