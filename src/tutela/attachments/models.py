"""Photos, audio, signatures and documents attached to a record's fields.

A record's attachment field contains a list of attachment ids. Each id is a row here, which
names where the file is stored and what it is. The stored name is random, never derived from
the file name the user gave, which may contain a child's name.
"""

import uuid

from django.conf import settings
from django.db import models

from tutela.encryption.fields import SealedTextField
from tutela.records.models import Record


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # PROTECT: a record is removed only by retention rules, which must remove the files too.
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="attachments")
    # The field's name, or "<subform>.<field>" for a field of subform rows.
    field_name = models.CharField(max_length=201)
    # As the user's device named it: shown to people who may see the record, never logged,
    # and encrypted at rest because it often holds a child's name.
    file_name = SealedTextField(label="$attachment.file_name")
    # Found from the content (tutela.attachments.content), not taken from the upload.
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=255, unique=True)
    thumbnail_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["record", "field_name"], name="attachment_record")]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_audio(self) -> bool:
        return self.content_type.startswith("audio/")
