"""Error pages in the site's layout and the user's language: 403, 404 and 500."""

from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from tests.conftest import signed_in_client
from tutela.access.models import User


def test_unknown_page_is_translated_404(caseworker: User) -> None:
    client = signed_in_client(caseworker)
    response = client.get("/no-such-page/", headers={"Accept-Language": "ar"})
    html = response.content.decode()
    assert response.status_code == 404
    assert 'lang="ar"' in html
    assert 'dir="rtl"' in html
    assert 'class="top-bar"' in html


def test_unknown_page_in_english_is_404(db: None) -> None:
    response = Client().get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    assert 'class="top-bar"' in html


def test_unknown_api_address_stays_json(caseworker: User) -> None:
    response = signed_in_client(caseworker).get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_forbidden_page_uses_the_layout(caseworker: User) -> None:
    client = signed_in_client(caseworker)
    response = client.get("/configuration/", headers={"Accept-Language": "ar"})
    html = response.content.decode()
    assert response.status_code == 403
    assert 'dir="rtl"' in html
    assert 'class="top-bar"' in html


def test_server_error_page_renders_without_context() -> None:
    with translation.override("ar"):
        html = render_to_string("500.html")
    assert 'lang="ar"' in html
    assert 'dir="rtl"' in html
