"""The page for a form post that failed the CSRF check, such as after signing in again."""

from django.test import Client

from tests.conftest import signed_in_client
from tutela.access.models import User


def csrf_client(user: User) -> Client:
    client: Client = signed_in_client(user)
    client.handler.enforce_csrf_checks = True
    return client


def test_csrf_failure_is_translated_403(caseworker: User) -> None:
    client = csrf_client(caseworker)
    response = client.post(
        "/password/",
        {"old_password": "x"},
        headers={"Referer": "http://testserver/password/?next=x", "Accept-Language": "ar"},
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert 'dir="rtl"' in html
    assert 'class="top-bar"' in html
    assert 'href="/password/"' in html


def test_csrf_failure_links_home_for_other_sites(caseworker: User) -> None:
    client = csrf_client(caseworker)
    response = client.post(
        "/password/", {"old_password": "x"}, headers={"Referer": "https://evil.example/steal"}
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert "evil.example" not in html
    assert "/steal" not in html
    assert "The form could not be saved" in html
