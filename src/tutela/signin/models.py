"""Sign-in state that allauth does not keep: failure counters for lockout, and emailed links."""

from django.conf import settings
from django.db import models


class SignInThrottle(models.Model):
    """Failed sign-ins counted for one account or one client address.

    `key` is `account:<username>` or `address:<ip>`. The username is stored as typed, folded to
    lower case, so that attacks on accounts that do not exist are slowed down too.
    """

    key = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class SignInLink(models.Model):
    """A single-use, expiring link that lets a user set a password.

    Only the SHA-256 of the link's token is stored, so a database dump contains no usable link.
    """

    class Purpose(models.TextChoices):
        ONBOARDING = "onboarding"
        PASSWORD_RESET = "password_reset"  # noqa: S105  (a purpose, not a password)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signin_links"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="signin_link_user")]

    def __str__(self) -> str:
        return f"{self.purpose} link for user {self.user_id}"
