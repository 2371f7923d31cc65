"""The request an audited action runs in: the client address and user agent.

Actions do not take the request as an argument; the middleware stores what the audit log
needs in a context variable for the duration of each request.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestInfo:
    address: str | None
    user_agent: str


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "tutela_audit_request", default=None
)


def current_request() -> RequestInfo | None:
    return _current.get()


def request_info(request: HttpRequest) -> RequestInfo:
    # REMOTE_ADDR is the direct peer. Behind a reverse proxy, the proxy must set it from
    # X-Forwarded-For (gunicorn --forwarded-allow-ips); trusting the header here would let any
    # client write a false address into the audit log.
    return RequestInfo(
        address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(request_info(request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
