"""Saving a record locks its own row only, so saves of different records run side by side."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tutela.records import actions
from tutela.records.models import Status

pytestmark = pytest.mark.usefixtures("sample_config")


def locking_statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "FOR UPDATE" in query["sql"]]


def test_update_locks_only_record_row(caseworker: Any) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    with CaptureQueriesContext(connection) as queries:
        actions.update_record(record.pk, {"age": 4}, caseworker, base_version=1)
    statements = locking_statements(queries)
    assert len(statements) == 1
    assert statements[0].endswith('FOR UPDATE OF "records_record"')


def test_status_change_locks_only_record_row(caseworker: Any) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    with CaptureQueriesContext(connection) as queries:
        actions.set_status(record.pk, Status.CLOSED, caseworker, base_version=1)
    statements = locking_statements(queries)
    assert len(statements) == 1
    assert statements[0].endswith('FOR UPDATE OF "records_record"')
