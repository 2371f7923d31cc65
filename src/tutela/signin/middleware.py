"""Idle and absolute session timeouts, and the MFA enrolment that some roles require."""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from tutela.signin.mfa import ENROLLED_SESSION_KEY, has_mfa, mfa_required

SIGNED_IN_AT = "tutela_signed_in_at"
SEEN_AT = "tutela_seen_at"
# The last-seen time is written at most once a minute, not at every request.
SEEN_RESOLUTION_SECONDS = 60

# Pages a user who must enrol in MFA may still open: the enrolment pages themselves, sign-out,
# the password change, the language switch and the app shell.
MFA_EXEMPT_PREFIXES = (
    "/accounts/",
    "/sign-out/",
    "/password/",
    "/language/",
    "/static/",
    "/health",
    "/manifest.webmanifest",
    "/service-worker.js",
    "/offline/",
)


class SessionTimeoutMiddleware:
    """Sign the user out after TUTELA_SESSION_IDLE_TIMEOUT seconds without a request, or
    SESSION_COOKIE_AGE seconds after sign-in, whichever comes first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self.check_session(request)
        return self.get_response(request)

    def check_session(self, request: HttpRequest) -> None:
        now = time.time()
        session = request.session
        signed_in_at = session.setdefault(SIGNED_IN_AT, now)
        seen_at = session.get(SEEN_AT, now)
        idle = now - seen_at > settings.TUTELA_SESSION_IDLE_TIMEOUT
        expired = now - signed_in_at > settings.SESSION_COOKIE_AGE
        if idle or expired:
            logout(request)
            messages.info(request, _("Your session has ended. Sign in again to continue."))
            return
        if now - seen_at >= SEEN_RESOLUTION_SECONDS or SEEN_AT not in session:
            session[SEEN_AT] = now


class RequireMfaMiddleware:
    """Send a user whose role requires MFA to enrol before any other page or API call.

    Requests authenticated by an API token are left alone: tokens are issued to integrations
    and stay as they are.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.must_enrol(request):
            return self.enrolment_response(request)
        return self.get_response(request)

    def must_enrol(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_authenticated or request.path.startswith(MFA_EXEMPT_PREFIXES):
            return False
        if request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
            return False
        if getattr(user, "must_change_password", False):
            # The one-time password is replaced first; the pages and the API ask for that.
            return False
        if request.session.get(ENROLLED_SESSION_KEY) or not mfa_required(user):
            return False
        if has_mfa(user):
            request.session[ENROLLED_SESSION_KEY] = True
            return False
        return True

    def enrolment_response(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {
                    "code": "mfa_enrolment_required",
                    "detail": "Your role requires two-factor authentication. Set it up on the "
                    "web pages before using the API.",
                },
                status=403,
            )
        messages.warning(
            request,
            _("Your role requires two-factor authentication. Set it up before you continue."),
        )
        return redirect("mfa_index")
