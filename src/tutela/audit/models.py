"""The audit log: who did what to which object, append-only and hash-chained.

It is separate from the technical log. Entries name record ids, never a child's personal data.
Each entry's hash covers its own fields and the previous entry's hash, so changing or removing
any entry breaks the chain from that entry on; `tutela audit verify` finds the first break.
A database trigger rejects UPDATE and DELETE unless the retention job has set
`tutela.audit_retention` for its transaction.
"""

import json

from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True)
    # The username at the time, kept even if the user is renamed or removed later.
    actor = models.CharField(max_length=150, blank=True)
    address = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    # Non-personal context: field names changed, filters used, a failure reason code.
    details = models.JSONField(default=dict)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_object"),
            models.Index(fields=["actor_id", "id"], name="audit_actor"),
            models.Index(fields=["at"], name="audit_time"),
            models.Index(fields=["action", "id"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.object_type}:{self.object_id}"

    def details_text(self) -> str:
        """Return the details as compact JSON, for the audit screens."""
        return json.dumps(self.details, ensure_ascii=False, sort_keys=True)


class AuditChainStart(models.Model):
    """The start of the audit chain after the retention job deleted its oldest entries.

    `tutela audit verify` starts from the newest row: its `first_kept_id` entry must be the
    oldest entry left, and that entry's `previous_hash` must equal the one recorded here.
    Rows are written only by the database function `audit_delete_before`.
    """

    first_kept_id = models.BigIntegerField()
    previous_hash = models.CharField(max_length=64)
    deleted_count = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"chain starts at #{self.first_kept_id}"


class RetentionPolicy(models.Model):
    """The `retention` part of the configuration document in force (one row, id 1).

    Kept as the document has it, so that `config dump` returns it unchanged; the rules are
    checked when the document is loaded (tutela.audit.retention_rules).
    """

    document = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "retention policy"
