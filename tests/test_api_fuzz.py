"""Schema-driven fuzzing of the records endpoints: no input may cause a server error (5xx).

Schemathesis reads the API's own OpenAPI schema and generates valid and invalid requests for
every records operation. The record type and record id parameters are pinned to real values,
so the requests reach the validation and persistence code instead of stopping at a 404.
"""

from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tutela.access.models import User
from tutela.access.tokens import issue_token
from tutela.records.actions import create_record


@pytest.fixture
def api_token(sample_config: None, caseworker: User) -> str:
    return issue_token(caseworker, "fuzz")[1]


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


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.include(path_regex="^/api/v1/records").parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_records_endpoints_never_fail(case: Any, api_token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_token}"}, checks=[not_a_server_error]
    )
