"""Cases, incidents, tracing requests and families: one table, one row per record.

Form values live in the `data` JSONB column, validated against the configuration in force.
What lists, filters, permissions and duplicate detection need is copied into indexed columns
on every save.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _

from tutela.access.models import Agency
from tutela.configuration.models import RecordType
from tutela.encryption.fields import SealedDisplayNameField, SealedJSONField


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class Record(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    record_type = models.ForeignKey(RecordType, on_delete=models.PROTECT, related_name="+")
    # Short human id, such as "K7M-2QX"; random so it reveals nothing about other records.
    short_id = models.CharField(max_length=16, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    workflow_stage = models.CharField(max_length=50, default="new")
    disabled = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    # Values of fields marked sensitive are encrypted here (tutela.encryption).
    data = SealedJSONField(default=dict)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_records",
    )
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    registration_date = models.DateField(null=True, blank=True)

    # Derived on save, for search and duplicate detection.
    # Encrypted when the name fields are sensitive.
    display_name = SealedDisplayNameField(blank=True)
    # Built from searchable fields that are not sensitive.
    search_vector = SearchVectorField(null=True)
    # Keyed hashes (HMAC) of the words and whole values of sensitive searchable and id-number
    # fields, for exact-match search without their plain text (tutela.encryption.search).
    search_tokens = ArrayField(models.CharField(max_length=30), default=list)
    # Normalised and phonetic keys of every name token (see lib/names.py); keyed hashes of
    # them when the name fields are sensitive.
    name_keys = ArrayField(models.CharField(max_length=60), default=list)
    match_sex = models.CharField(max_length=50, blank=True)
    match_birth_year = models.SmallIntegerField(null=True, blank=True)
    match_location = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["record_type", "owner", "status", "-updated_at", "id"],
                name="record_owner_list",
            ),
            models.Index(fields=["record_type", "-updated_at", "id"], name="record_recent"),
            models.Index(fields=["record_type", "agency", "status"], name="record_agency"),
            GinIndex(fields=["search_vector"], name="record_search"),
            GinIndex(fields=["name_keys"], name="record_name_keys"),
            GinIndex(fields=["search_tokens"], name="record_search_tokens"),
            GinIndex(fields=["data"], name="record_data", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return self.short_id


class RecordHistory(models.Model):
    """One row per save: each changed field's old and new value, who and when."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="history")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=20)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    # {field name: {"old": value, "new": value}}; record-level columns use a "$" prefix
    # ("$status", "$disabled", "$owner"). Values of sensitive fields are encrypted.
    changes = SealedJSONField(kind="changes", default=dict)

    class Meta:
        ordering = ["record", "version"]
        constraints = [
            models.UniqueConstraint(fields=["record", "version"], name="record_history_version")
        ]

    def __str__(self) -> str:
        return f"{self.record_id} v{self.version}"
