"""Users and the agencies they work for."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Agency(models.Model):
    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict, help_text="Name per locale")
    code = models.CharField(max_length=50, blank=True)
    disabled = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")

    def __str__(self) -> str:
        return self.unique_id


class User(AbstractUser):
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT)
    locale = models.CharField(max_length=10, default="en")
    time_zone = models.CharField(max_length=64, default="UTC")
    must_change_password = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.username


class ApiToken(models.Model):
    """A token for integrations. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the token, stored in clear to find the row; the rest is secret.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
