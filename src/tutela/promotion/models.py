"""Configuration snapshots, the bundles that carry them between sites, plans and history.

A snapshot's id is the SHA-256 of its canonical configuration content, so two sites with the
same configuration compute the same id, and a rollback can be checked by comparing ids.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Origin(models.TextChoices):
    LOCAL = "local", _("Made on this site")
    AUTOMATIC = "automatic", _("Made before an apply")
    RECEIVED = "received", _("Received")


class Snapshot(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    parent = models.CharField(max_length=64, blank=True)
    label = models.CharField(max_length=200, blank=True)
    author = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    site_name = models.CharField(max_length=100)
    # The Tutela versions the snapshot fits: from min_version, up to but excluding below_version.
    min_version = models.CharField(max_length=20)
    below_version = models.CharField(max_length=20)
    signer = models.CharField(max_length=16, blank=True)
    signature = models.TextField(blank=True)
    # The canonical JSON text of the configuration, exactly the bytes the id hashes.
    content = models.TextField()
    origin = models.CharField(max_length=10, choices=Origin.choices)
    stored_at = models.DateTimeField()

    class Meta:
        ordering = ["-stored_at"]

    def __str__(self) -> str:
        return self.id[:12]


class BundleStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    RECEIVED = "received", _("Received")
    REJECTED = "rejected", _("Rejected")
    PLANNED = "planned", _("Planned")
    APPROVED = "approved", _("Approved")
    APPLIED = "applied", _("Applied")
    ROLLED_BACK = "rolled_back", _("Rolled back")


class Bundle(models.Model):
    """One snapshot sent from this site or received by it, with its status."""

    direction = models.CharField(
        max_length=10, choices=[("sent", "sent"), ("received", "received")]
    )
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=20, choices=BundleStatus.choices)
    # A stable code (rejections: see bundles.Rejection) and a sentence for people.
    reason_code = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    # "api" (pushed through a promotion link), "file" (tutela config receive) or, when sent,
    # the address it was pushed to.
    channel = models.CharField(max_length=300)
    link_name = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    # SHA-256 of the bytes received, so a rejected bundle can be matched with its file.
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"bundle {self.pk} ({self.status})"


class PlanStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    APPROVED = "approved", _("Approved")
    APPLIED = "applied", _("Applied")
    SUPERSEDED = "superseded", _("Superseded")


class Plan(models.Model):
    """A dry run of applying a snapshot to this site's configuration, and its approval."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="plans")
    bundle = models.ForeignKey(Bundle, null=True, blank=True, on_delete=models.PROTECT)
    is_rollback = models.BooleanField(default=False)
    # The id (content hash) of this site's configuration when the plan was made. Apply
    # refuses a plan whose base is no longer the configuration in force.
    base_id = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=PlanStatus.choices)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150)
    changes = models.JSONField(default=list)
    findings = models.JSONField(default=list)
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)

    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    acknowledged = models.JSONField(default=list, blank=True)

    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    # Production's configuration as it was just before the apply: the rollback point.
    before_snapshot = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"plan {self.pk} ({self.status})"


class Event(models.Model):
    """One step in the promotion history: sent, received, rejected, planned, approved..."""

    at = models.DateTimeField()
    action = models.CharField(max_length=30)
    actor = models.CharField(max_length=150)
    bundle = models.ForeignKey(Bundle, null=True, blank=True, on_delete=models.PROTECT)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    snapshot_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"
