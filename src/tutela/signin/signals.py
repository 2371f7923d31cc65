"""Receivers: session timestamps at sign-in, and audit entries for MFA changes."""

import time
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.signals import (
    authentication_failed,
    authenticator_added,
    authenticator_removed,
    authenticator_reset,
)
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from tutela.audit.log import record_event
from tutela.audit.models import Outcome
from tutela.signin import lockout
from tutela.signin.mfa import ENROLLED_SESSION_KEY
from tutela.signin.middleware import SEEN_AT, SIGNED_IN_AT


@receiver(user_logged_in)
def start_session_clock(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[SEEN_AT] = now
        request.session.pop(ENROLLED_SESSION_KEY, None)
    lockout.record_success(user.get_username())


def audit_authenticator(action: str, user: Any, authenticator: Authenticator | None) -> None:
    kind = authenticator.type if authenticator is not None else ""
    record_event(action, user=user, object_type="user", object_id=user.pk, details={"type": kind})


@receiver(authenticator_added)
def audit_mfa_added(
    sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any
) -> None:
    audit_authenticator("auth.mfa_add", user, authenticator)


@receiver(authenticator_removed)
def audit_mfa_removed(
    sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any
) -> None:
    if request is not None and hasattr(request, "session"):
        request.session.pop(ENROLLED_SESSION_KEY, None)
    audit_authenticator("auth.mfa_remove", user, authenticator)


@receiver(authenticator_reset)
def audit_mfa_reset(
    sender: Any, request: Any, user: Any, authenticator: Authenticator, **kwargs: Any
) -> None:
    audit_authenticator("auth.mfa_reset", user, authenticator)


@receiver(authentication_failed)
def audit_mfa_failure(
    sender: Any, request: Any, user: Any, authenticator: Authenticator | None = None, **kwargs: Any
) -> None:
    # The user passed the password step; the code or security key that followed was wrong.
    reauthentication = bool(kwargs.get("reauthentication"))
    reason = "mfa_reauthentication_failed" if reauthentication else "mfa_failed"
    record_event(
        "auth.sign_in",
        actor_name=user.get_username(),
        object_type="user",
        object_id=user.pk,
        outcome=Outcome.FAILURE,
        details={"reason": reason, "type": authenticator.type if authenticator else ""},
    )
    if not reauthentication and request is not None:
        stop_guessing(request, user.get_username())


def stop_guessing(request: Any, username: str) -> None:
    """Count a wrong code as a failed sign-in.

    Once that locks the account or address, end the half-done sign-in, so that the next try
    starts again at the password step, which the lock rejects.
    """
    keys = lockout.keys_for(username, request.META.get("REMOTE_ADDR") or None)
    lockout.record_failure(keys)
    if lockout.locked_until(keys) is not None and hasattr(request, "session"):
        request.session.flush()
