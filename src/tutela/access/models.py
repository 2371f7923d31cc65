"""Users, the agencies they work for, their user groups and roles, and referrals.

Roles and user groups are plain configuration data keyed by a stable `unique_id`, so a
configuration document or snapshot can carry them from one site to another.
"""

from typing import Any

from django.conf import settings
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


class RecordScope(models.TextChoices):
    OWN = "own", _("Own records")
    GROUP = "group", _("Records of my user groups")
    AGENCY = "agency", _("Records of my agency")
    ALL = "all", _("All records")


class SectionAccess(models.TextChoices):
    WRITE = "write", _("Read and write")
    READ = "read", _("Read only")
    HIDDEN = "hidden", _("Hidden")


# Resources that make a role require MFA when the role does not set mfa_required itself.
MFA_RESOURCES = ("user", "role", "agency", "user_group", "configuration", "system")


def needs_mfa_by_default(permissions: dict[str, Any]) -> bool:
    """Return whether a role with these permissions requires MFA when mfa_required is unset."""
    return any(permissions.get(resource) for resource in MFA_RESOURCES if resource != "user") or (
        bool(set(permissions.get("user", [])) - {"read"})
    )


class Role(models.Model):
    """A named set of permissions, a record scope and an access level per form section.

    `permissions` maps a resource to the actions allowed on it, such as
    {"case": ["read", "write"], "user": ["read"]}; tutela.access.permissions lists the valid
    resources and actions. `form_sections` maps a form section's unique_id to "write", "read" or
    "hidden"; a section it does not list gets `form_section_default`.
    """

    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict, help_text="Name per locale")
    description = models.JSONField(default=dict, blank=True, help_text="Description per locale")
    permissions = models.JSONField(default=dict, blank=True)
    record_scope = models.CharField(
        max_length=10, choices=RecordScope.choices, default=RecordScope.OWN
    )
    form_sections = models.JSONField(default=dict, blank=True)
    form_section_default = models.CharField(
        max_length=10, choices=SectionAccess.choices, default=SectionAccess.WRITE
    )
    # The roles a user with this role may give to other users.
    grantable_roles = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="granted_by"
    )
    # None until saved: save() then fills in needs_mfa_by_default(permissions).
    mfa_required = models.BooleanField(default=None)
    disabled = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.unique_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.mfa_required is None:
            self.mfa_required = needs_mfa_by_default(self.permissions)
        super().save(*args, **kwargs)


class UserGroup(models.Model):
    """A team of users. A role with record scope "group" reads the records its members own."""

    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict, help_text="Name per locale")
    description = models.JSONField(default=dict, blank=True, help_text="Description per locale")
    agencies = models.ManyToManyField(Agency, blank=True, related_name="user_groups")
    disabled = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("user group")
        verbose_name_plural = _("user groups")

    def __str__(self) -> str:
        return self.unique_id


class User(AbstractUser):
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT)
    # One role per user, as in Primero: the record scope and form section access are then
    # never a merge of conflicting roles, and a manager's grantable roles apply to one value.
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    user_groups = models.ManyToManyField(UserGroup, blank=True, related_name="users")
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


class Referral(models.Model):
    """A record referred to a user, who may then see it with their role's section access."""

    record = models.ForeignKey("records.Record", on_delete=models.CASCADE, related_name="referrals")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_received"
    )
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    referred_at = models.DateTimeField()
    # An inactive referral no longer gives the recipient access.
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [
            models.Index(fields=["recipient", "record"], name="referral_recipient"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "recipient"],
                condition=models.Q(active=True),
                name="referral_one_active_per_recipient",
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_id} -> {self.recipient_id}"
