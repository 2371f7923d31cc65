"""Times show in the user's time zone and dates in the language of the page."""

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from tutela.records import actions
from tutela.records.models import RecordHistory

pytestmark = pytest.mark.usefixtures("sample_config")

# A history entry saved at 09:30 UTC on 15 March 2026: 12:30 in Nairobi (UTC+3, no DST).
SAVED_AT = dt.datetime(2026, 3, 15, 9, 30, tzinfo=dt.UTC)


def history_page(user: Any, language: str = "en") -> str:
    record = actions.create_record("case", {"name_first": "Amal"}, user)
    RecordHistory.objects.filter(record=record).update(at=SAVED_AT)
    client = Client()
    client.force_login(user)
    client.post("/language/", {"language": language, "next": "/"})
    html = client.get(f"/cases/{record.pk}/history").content.decode()
    return re.sub(r"\s+", " ", html)


def test_history_time_in_user_time_zone(caseworker: Any) -> None:
    caseworker.time_zone = "Africa/Nairobi"
    caseworker.save(update_fields=["time_zone"])

    html = history_page(caseworker)

    assert '<time datetime="2026-03-15T12:30:00+03:00">' in html
    assert "March 15, 2026, 12:30 p.m." in html


def test_history_time_in_utc_by_default(caseworker: Any) -> None:
    html = history_page(caseworker)

    assert '<time datetime="2026-03-15T09:30:00+00:00">' in html
    assert "March 15, 2026, 9:30 a.m." in html


def test_history_date_in_french(caseworker: Any) -> None:
    caseworker.time_zone = "Africa/Nairobi"
    caseworker.save(update_fields=["time_zone"])

    html = history_page(caseworker, "fr")

    assert "15 mars 2026 12:30" in html
