"""API tokens: `tut_<prefix>_<secret>`, stored as a SHA-256 hash.

A token is a random 256-bit secret, so a fast hash is enough: no one can guess the input.
"""

import hashlib
import hmac
import secrets
from datetime import datetime

from django.utils import timezone

from tutela.access.models import ApiToken, User

TOKEN_PREFIX = "tut_"  # noqa: S105 (a marker, not a secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the token text, which is not stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, key_hash=hash_secret(secret), expires_at=expires_at
    )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def check_token(text: str) -> ApiToken | None:
    """Return the live token row that `text` belongs to, or None."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = text.removeprefix(TOKEN_PREFIX).partition("_")
    if not prefix or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked=False).first()
    if token is None or not hmac.compare_digest(token.key_hash, hash_secret(secret)):
        return None
    if token.expires_at and token.expires_at <= timezone.now():
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    # Record use at most once a minute, to keep reads from turning into writes.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
