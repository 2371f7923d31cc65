"""Every aria-describedby on a form with an error names an element on the page."""

import re
from typing import Any

import pytest
from django.test import Client

from tests.conftest import signed_in_client
from tutela.access.models import User

pytestmark = pytest.mark.usefixtures("sample_config")


def assert_described_ids_exist(html: str) -> None:
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    described = re.findall(r'aria-describedby="([^"]+)"', html)
    assert described, "the page has no aria-describedby at all"
    for value in described:
        for name in value.split():
            assert name in ids, f"aria-describedby names {name!r}, which is not on the page"


def test_sign_in_form_errors_are_described(db: None) -> None:
    response = Client().post("/sign-in/", {"login": "", "password": ""})
    assert 'aria-invalid="true"' in response.content.decode()
    assert_described_ids_exist(response.content.decode())


def test_password_change_errors_are_described(caseworker: User) -> None:
    client = signed_in_client(caseworker)
    response = client.post(
        "/password/",
        {"old_password": "wrong", "new_password1": "a", "new_password2": "b"},
    )
    assert 'aria-invalid="true"' in response.content.decode()
    assert_described_ids_exist(response.content.decode())


def test_new_user_form_errors_are_described(administrator: User) -> None:
    client = signed_in_client(administrator)
    response = client.post("/users/new/", {"username": "", "email": "not-an-address"})
    assert 'aria-invalid="true"' in response.content.decode()
    assert_described_ids_exist(response.content.decode())


def test_lookup_form_errors_are_described(administrator: User) -> None:
    client: Any = signed_in_client(administrator)
    response = client.post("/configuration/lookups/new", {"unique_id": "", "name__en": ""})
    assert 'aria-invalid="true"' in response.content.decode()
    assert_described_ids_exist(response.content.decode())
