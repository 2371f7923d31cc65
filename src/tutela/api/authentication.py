"""Bearer-token authentication for integrations (`Authorization: Bearer tut_...`)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from tutela.access.tokens import check_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, text = header.partition(" ")
        if keyword != self.keyword:
            return None
        token = check_token(text.strip())
        if token is None:
            # Never echo the token: it may be a real one with a typo.
            raise exceptions.AuthenticationFailed("The API token is invalid, expired or revoked.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tutela.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "tut_<prefix>_<secret>"}


class PasswordChanged(permissions.BasePermission):
    """Refuse users who must still replace a one-time password, as the pages do."""

    message = "Change your one-time password on the web pages before using the API."
    code = "password_change_required"

    def has_permission(self, request: Request, view: Any) -> bool:
        return not getattr(request.user, "must_change_password", False)
