"""The site's role (demo or production), its signing key, and the sites it trusts.

A demo site designs configuration and signs snapshots of it; a production site receives them
through a promotion link and checks each signature against a trusted signer's public key.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    DEMO = "demo", _("Demo")
    PRODUCTION = "production", _("Production")


class DriftControl(models.TextChoices):
    # Local configuration edits are rejected on the screens, the CLI and the API.
    LOCK = "lock", _("Lock local configuration editing")
    # Local edits are allowed and the next promotion plan reports them as drift.
    REPORT = "report", _("Allow local edits and report them as drift")


class Site(models.Model):
    """This site: one row, created by `tutela site init`."""

    role = models.CharField(max_length=20, choices=Role.choices)
    name = models.CharField(max_length=100)
    initialized_at = models.DateTimeField()
    drift_control = models.CharField(
        max_length=10, choices=DriftControl.choices, default=DriftControl.REPORT
    )
    # Ed25519 public key (raw 32 bytes, base64) of the key pair `tutela site keygen` wrote; the
    # private key is in the secrets file.
    public_key = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=16, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class TrustedSigner(models.Model):
    """A demo site whose snapshots this site accepts, known by its Ed25519 public key."""

    name = models.CharField(max_length=100, unique=True)
    key_id = models.CharField(max_length=16, unique=True)
    public_key = models.CharField(max_length=64)
    added_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"


class PromotionLink(models.Model):
    """The token one trusted signer uses to push snapshots to this site.

    Only the token's SHA-256 is stored; the token is shown once when the link is created.
    """

    name = models.CharField(max_length=100, unique=True)
    signer = models.ForeignKey(TrustedSigner, on_delete=models.PROTECT, related_name="links")
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
