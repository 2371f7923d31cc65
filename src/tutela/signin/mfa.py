"""Whether a user must use MFA, and whether they have enrolled."""

from typing import Any

from allauth.mfa.models import Authenticator

# The session remembers that the user has an authenticator, so that pages need no query for it.
# signals.py clears it when an authenticator is removed.
ENROLLED_SESSION_KEY = "tutela_mfa_enrolled"


def mfa_required(user: Any) -> bool:
    """Return whether the user's role requires MFA (by default, a role that manages users,
    roles, configuration or the system does)."""
    role = getattr(user, "role", None)
    return bool(role is not None and role.mfa_required)


def has_mfa(user: Any) -> bool:
    """Return whether the user has a TOTP or WebAuthn authenticator (recovery codes alone do not
    count: they are a fallback for a lost authenticator)."""
    authenticators = Authenticator.objects.filter(user=user)
    return bool(authenticators.exclude(type=Authenticator.Type.RECOVERY_CODES).exists())
