"""One JSON shape for every API error: {"error": {"code", "message", "details"}}.

Codes are stable: clients may branch on them. Messages are for people and may change.
"""

import logging
from typing import Any

from django.db import OperationalError
from django.http import Http404
from psycopg.errors import LockNotAvailable
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from tutela.records.actions import RecordConflict, RecordDisabled
from tutela.records.search import SearchError
from tutela.records.validation import RecordInvalid

logger = logging.getLogger(__name__)
# Seconds a client waits before repeating a save that met a busy lock.
RETRY_AFTER_SECONDS = 5


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_code = "precondition_required"
    default_detail = "Send If-Match with the record's ETag (its version) to change it."


class UnknownRecordType(exceptions.NotFound):
    default_code = "unknown_record_type"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RecordInvalid):
        details = [{"path": p.path, "message": p.message} for p in exc.problems]
        return Response(
            error_body("validation_failed", "Some values are invalid.", details),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RecordConflict):
        response = Response(
            error_body(
                "version_conflict",
                f"The record changed since version {exc.base_version}; it is now at version "
                f"{exc.current_version}. Read it again and reapply your change.",
                {"current_version": exc.current_version, "changed_fields": exc.fields},
            ),
            status=status.HTTP_412_PRECONDITION_FAILED,
        )
        response["ETag"] = f'"{exc.current_version}"'
        return response
    if isinstance(exc, RecordDisabled):
        return Response(
            error_body("record_disabled", "The record is disabled; enable it before editing."),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, OperationalError) and isinstance(exc.__cause__, LockNotAvailable):
        # A configuration promotion locks the records table for the few seconds its apply takes.
        logger.warning("Responded 503: a lock timed out (%s)", exc.__cause__)
        response = Response(
            error_body(
                "retry_later",
                "The record could not be saved now because the site is busy (a configuration "
                "change is being applied). Nothing was saved; send the same request again in "
                "a few seconds.",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, SearchError):
        return Response(error_body("invalid_search", str(exc)), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()

    handled = exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        message, details = _flatten(exc.detail)
        code_text = code if isinstance(code, str) else getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.ValidationError):
            code_text = "invalid_request"
        response.data = error_body(code_text, message, details)
    return response


def _flatten(detail: Any) -> tuple[str, Any]:
    """Turn DRF's nested error detail into one message and a list of path/message pairs."""
    if isinstance(detail, str):
        return str(detail), None
    pairs: list[dict[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]" if isinstance(value, dict | list) else path)
        else:
            pairs.append({"path": path or "$", "message": str(node)})

    walk(detail, "")
    return "The request is invalid.", pairs
