"""A page for the record saves that meet a busy lock, such as a configuration apply's."""

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from psycopg.errors import LockNotAvailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class RetryLaterMiddleware:
    """Respond with 503 with a retry-later page when a page's save timed out waiting for a lock.

    Applying a promoted configuration locks the records table for a few seconds. A save that
    waits longer than the lock timeout is rolled back, so nothing was saved.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (
            isinstance(exception, OperationalError)
            and isinstance(exception.__cause__, LockNotAvailable)
        ):
            return None
        logger.warning("Responded 503 to %s %s: a lock timed out", request.method, request.path)
        response = render(request, "sites/retry_later.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
