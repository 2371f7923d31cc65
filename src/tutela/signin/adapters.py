"""allauth adapters: lockout around password checks, and OpenID Connect sign-in rules."""

import logging
import math
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext

from tutela.audit.log import record_event
from tutela.audit.models import Outcome
from tutela.signin import lockout, oidc

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest | None) -> str | None:
    # The direct peer, as in the audit log: see tutela.audit.context for proxies.
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Administrators create accounts; nobody signs themselves up.
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        username = str(credentials.get("username", ""))
        until = lockout.locked_until(lockout.keys_for(username, client_address(request)))
        if until is None:
            return
        record_event(
            "auth.sign_in",
            actor_name=username[:150],
            object_type="user",
            outcome=Outcome.FAILURE,
            details={"reason": "locked_out"},
        )
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
        raise ValidationError(
            ngettext(
                "Too many failed sign-ins. Try again in %(minutes)d minute.",
                "Too many failed sign-ins. Try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes},
            code="locked_out",
        )

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        # Django's user_login_failed signal has already written the audit entry.
        username = str(credentials.get("username", ""))
        lockout.record_failure(lockout.keys_for(username, client_address(request)))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return oidc.may_create_users()

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Link the provider's account to the Tutela user of the same username, or refuse it.

        A provider account already linked signs in as its user. An unlinked one is linked to
        the active user whose username equals the username claim. When there is no such user,
        the sign-in is rejected unless TUTELA_OIDC_CREATE_USERS allows creating one.
        """
        claims = oidc.claims_of(sociallogin)
        if not sociallogin.is_existing:
            user = oidc.find_user(claims)
            if user is not None:
                sociallogin.connect(request, user)
            elif not oidc.may_create_users():
                self.reject(request, claims, "unknown_user")
        if sociallogin.is_existing:
            oidc.apply_role_mapping(sociallogin.user, claims)

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        oidc.apply_role_mapping(user, oidc.claims_of(sociallogin))
        return user

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: Any) -> Any:
        user = super().populate_user(request, sociallogin, data)
        username = oidc.username_of(oidc.claims_of(sociallogin))
        if username:
            user.username = username
        return user

    def reject(self, request: HttpRequest, claims: dict[str, Any], reason: str) -> None:
        record_event(
            "auth.sign_in",
            actor_name=oidc.username_of(claims)[:150],
            object_type="user",
            outcome=Outcome.FAILURE,
            details={"reason": reason, "method": "oidc"},
        )
        response = render(request, "signin/oidc_refused.html", status=403)
        raise ImmediateHttpResponse(response)
