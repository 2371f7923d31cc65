"""Schema-driven fuzzing of the records endpoints: no input may cause a server error (5xx).

Schemathesis reads the API's own OpenAPI schema and generates valid and invalid requests for
every records operation. The record type and record id parameters are pinned to real values,
so the requests reach the validation and persistence code instead of stopping at a 404.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tutela.access.models import User
from tutela.access.tokens import issue_token
from tutela.records.actions import create_record


@pytest.fixture
def api_token(sample_config: None, caseworker: User) -> str:
    return issue_token(caseworker, "fuzz")[1]


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """Keep the test's database connection open across WSGI requests, as Django's test client
    does: the request signals would otherwise close it and lose the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api_token: str, caseworker: User) -> Any:
    record = create_record("case", {"name_first": "Amal", "sex": "female"}, caseworker)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    raw = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for operations in raw["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "record_type":
                    parameter["schema"] = {"type": "string", "enum": ["case", "incident"]}
                elif parameter["name"] == "record_id":
                    parameter["schema"] = {"type": "string", "enum": [str(record.pk)]}

    schema = schemathesis.openapi.from_dict(raw)
    schema.app = get_wsgi_application()
    return schema


def test_records_endpoints_never_fail(
    api_schema: Any, api_token: str, keep_connection: None
) -> None:
    # schemathesis.pytest.from_fixture does not work with pytest 9, so each operation's
    # strategy is run through hypothesis here.
    headers = {"Authorization": f"Bearer {api_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    records = [op for op in operations if op.path.startswith("/api/v1/records")]
    assert len(records) >= 8
    statuses: Counter[int] = Counter()

    for operation in records:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def exercise(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses[response.status_code] += 1

        exercise()

    # The generated requests must reach the code behind validation, not only be refused.
    assert sum(count for status, count in statuses.items() if status < 300) > 20, statuses
    assert statuses[400] > 20, statuses
