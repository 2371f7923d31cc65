"""A form post over DATA_UPLOAD_MAX_MEMORY_SIZE: a translated 400 page and one log line."""

import logging
from typing import Any

import pytest

from tests.conftest import signed_in_client
from tutela.access.models import User


def test_oversized_post_is_400_in_one_log_line(
    caseworker: User, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = signed_in_client(caseworker)
    secret_text = "confidential-note-" * 100
    with caplog.at_level(logging.INFO):
        response = client.post("/password/", {"old_password": secret_text})
    html = response.content.decode()
    assert response.status_code == 400
    assert "The request could not be read" in html
    assert 'class="top-bar"' in html
    records = [r for r in caplog.records if r.name == "django.security.RequestDataTooBig"]
    assert len(records) == 1
    assert records[0].exc_info is None
    assert records[0].getMessage() == (
        "Rejected POST /password/ with 400: "
        "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."
    )
    assert "confidential-note" not in caplog.text
    assert "Traceback" not in caplog.text
