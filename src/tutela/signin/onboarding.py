"""Onboarding and password reset by email: a single-use, expiring link to set a password.

The token travels in the link's fragment (`#token=...`), which browsers never send to a
server, so it stays out of access logs and Referer headers. The set-password page posts it
with the new password. Only the token's SHA-256 is stored.
"""

import datetime as dt
import hashlib
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from tutela.access.models import User
from tutela.audit.log import record_event
from tutela.signin.models import SignInLink

logger = logging.getLogger(__name__)

Purpose = SignInLink.Purpose
# The forgotten-password page sends a user at most one link in this time.
RESEND_AFTER = dt.timedelta(minutes=5)


class LinkInvalid(Exception):
    """The link is unknown, used or expired; `reason` is one of those three words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(user: User, purpose: str) -> str:
    """Store a new link for the user, replacing any unused one of the same purpose; return
    its token."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        SignInLink.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(
            expires_at=now
        )
        SignInLink.objects.create(
            user=user,
            purpose=purpose,
            token_hash=token_hash(token),
            expires_at=now + dt.timedelta(hours=settings.TUTELA_SIGNIN_LINK_HOURS),
        )
    return token


def sent_recently(user: User) -> bool:
    """Return whether a reset link went to the user in the last RESEND_AFTER, so that the
    forgotten-password page cannot be used to flood a mailbox."""
    since = timezone.now() - RESEND_AFTER
    return SignInLink.objects.filter(
        user=user, purpose=Purpose.PASSWORD_RESET, created_at__gt=since
    ).exists()


def link_address(token: str) -> str:
    return f"{settings.TUTELA_BASE_URL}{reverse('signin:set_password')}#token={token}"


def email_language(user: User) -> str:
    """Return the user's language if Tutela has it, else the site's default language."""
    try:
        return translation.get_supported_language_variant(user.locale or settings.LANGUAGE_CODE)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


def send_link(user: User, purpose: str) -> None:
    """Create a link and email it to the user in their language; raises OSError when the
    mail server fails."""
    if not user.email:
        raise ValueError(f"User {user.username} has no email address to send the link to.")
    token = create_link(user, purpose)
    context = {
        "user": user,
        "link": link_address(token),
        "hours": settings.TUTELA_SIGNIN_LINK_HOURS,
        "site": settings.TUTELA_SITE_NAME,
    }
    language = email_language(user)
    with translation.override(language):
        subject = render_to_string(f"signin/email/{purpose}_subject.txt", context).strip()
        body = render_to_string(f"signin/email/{purpose}_body.txt", context)
    message = EmailMessage(
        subject,
        body,
        to=[user.email],
        headers={"Content-Language": language},
    )
    message.send(fail_silently=False)
    record_event(f"auth.{purpose}_link_sent", object_type="user", object_id=user.pk)


@transaction.atomic
def use_link(token: str) -> SignInLink:
    """Mark the link used and return it; raise LinkInvalid when it cannot be used."""
    link = (
        SignInLink.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if link is None or not link.user.is_active:
        raise LinkInvalid("unknown")
    if link.used_at is not None:
        raise LinkInvalid("used")
    if link.expires_at <= timezone.now():
        raise LinkInvalid("expired")
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    return link


@transaction.atomic
def set_password_from_link(token: str, password: str) -> User:
    """Use the link and give its user the new password (already validated by the form)."""
    link = use_link(token)
    user: User = link.user
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    record_event(
        "auth.password_set",
        user=user,
        object_type="user",
        object_id=user.pk,
        details={"purpose": link.purpose},
    )
    return user


def find_link_user(token: str) -> User | None:
    """Return the user of a usable link without using it, for password validation."""
    link = SignInLink.objects.select_related("user").filter(token_hash=token_hash(token)).first()
    usable = link is not None and link.used_at is None and link.expires_at > timezone.now()
    return link.user if usable and link is not None else None


@transaction.atomic
def create_user(
    username: str,
    email: str,
    *,
    locale: str = "en",
    created_by: Any = None,
    **fields: Any,
) -> User:
    """Create an account with no usable password; the user sets one through the emailed link."""
    user = User(username=username, email=email, locale=locale, **fields)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    record_event(
        "user.create",
        user=created_by,
        object_type="user",
        object_id=user.pk,
        details={"locale": locale},
    )
    return user
