"""Audit entries for sign-in, sign-in failure and sign-out."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from tutela.audit.log import record_event
from tutela.audit.models import Outcome


@receiver(user_logged_in)
def audit_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event("auth.sign_in", user=user, object_type="user", object_id=user.pk)


@receiver(user_logged_out)
def audit_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event("auth.sign_out", user=user, object_type="user", object_id=user.pk)


@receiver(user_login_failed)
def audit_sign_in_failure(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    # Django masks the password in `credentials`; only the username is kept, as typed, so an
    # auditor can see attacks on an account. It is cut short in case a password was typed there.
    username = str(credentials.get("username", ""))[:150]
    record_event(
        "auth.sign_in",
        actor_name=username,
        object_type="user",
        outcome=Outcome.FAILURE,
        details={"reason": "invalid_credentials"},
    )
