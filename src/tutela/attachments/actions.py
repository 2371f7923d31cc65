"""Storing an uploaded file as an attachment of a record."""

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tutela.access.models import User
from tutela.attachments import content
from tutela.attachments.models import Attachment
from tutela.audit.log import record_event
from tutela.configuration.models import Field
from tutela.encryption import envelope
from tutela.encryption.files import FileKey
from tutela.records.models import Record

logger = logging.getLogger(__name__)

ACCEPTED_KINDS = {
    "photo": gettext_lazy("JPEG, PNG or WebP images"),
    "signature": gettext_lazy("JPEG, PNG or WebP images"),
    "audio": gettext_lazy("MP3, OGG, WAV, M4A, 3GP, WebM, AMR or FLAC audio"),
    "document": gettext_lazy("PDF, Word, Excel or OpenDocument files, or images"),
}


class AttachmentRejected(Exception):
    """An upload was rejected. The message, in the user's language, gives the reason and the fix."""


def max_upload_bytes() -> int:
    return int(settings.TUTELA_MAX_UPLOAD_MB) * 1024 * 1024


def max_per_record() -> int:
    return int(settings.TUTELA_MAX_ATTACHMENTS_PER_RECORD)


def storage() -> Storage:
    return storages["default"]


@dataclass
class Prepared:
    data: bytes
    content_type: str
    thumbnail: bytes | None


def prepare(upload: "UploadedFile[bytes]", field: Field) -> Prepared:
    """Check the upload's size and content against the field; strip image metadata."""
    name = upload.name or ""
    size = upload.size or 0
    if size > max_upload_bytes():
        raise AttachmentRejected(
            _("%(name)s is %(size)s MB; a file may be at most %(limit)s MB.")
            % {
                "name": name,
                "size": round(size / 1024 / 1024, 1),
                "limit": max_upload_bytes() // 2**20,
            }
        )
    data = upload.read()
    found = content.sniff(data)
    if found is None or found not in content.ACCEPTED.get(field.type, ()):
        raise AttachmentRejected(
            _("%(name)s is not a file type this field accepts. It accepts %(kinds)s.")
            % {"name": name, "kinds": ACCEPTED_KINDS.get(field.type, "")}
        )
    if found not in content.IMAGE_TYPES:
        return Prepared(data, found, None)
    try:
        image = content.clean_image(data)
    except content.ContentRejected:
        raise AttachmentRejected(
            _("%(name)s could not be read as an image; it may be damaged. Try another copy.")
            % {"name": name}
        ) from None
    return Prepared(image.data, image.content_type, image.thumbnail)


def add_attachment(
    record_id: uuid.UUID,
    field: Field,
    field_key: str,
    upload: "UploadedFile[bytes]",
    user: User | None,
) -> Attachment:
    """Store `upload` for the field `field_key` of a record; return the new attachment.

    The caller puts the attachment's id into the field's value with the record's next save.
    Raise AttachmentRejected when the file is too large, not of a kind the field takes, or the
    record already holds as many attachments as allowed.
    """
    prepared = prepare(upload, field)
    attachment_id = uuid.uuid4()
    folder = f"attachments/{attachment_id.hex[:2]}"

    with transaction.atomic():
        # The row lock makes concurrent uploads to one record count one after the other.
        # OF self: the joined record type row stays unlocked for saves of other records.
        records = Record.objects.select_for_update(of=("self",)).select_related("record_type")
        record = records.get(pk=record_id)
        if Attachment.objects.filter(record=record).count() >= max_per_record():
            raise AttachmentRejected(
                _(
                    "This record already has %(limit)d files, the maximum allowed. "
                    "Remove one to add another."
                )
                % {"limit": max_per_record()}
            )
        # The files are written before the row that names them commits, as the backups expect
        # (tutela.ops.documents); a failed transaction leaves an unreferenced file, never a row
        # without its file.
        # With encryption at rest on, the storage (local disk, S3 or Azure Blob) receives only
        # the encrypted bytes, under a new data key for this file (tutela.encryption).
        seal = FileKey().encrypt if envelope.enabled() else bytes
        stored = seal(prepared.data)
        stored_name = storage().save(f"{folder}/{attachment_id.hex}", ContentFile(stored))
        thumbnail_name = ""
        if prepared.thumbnail is not None:
            thumbnail_name = storage().save(
                f"{folder}/{attachment_id.hex}-thumbnail", ContentFile(seal(prepared.thumbnail))
            )
        attachment = Attachment.objects.create(
            id=attachment_id,
            record=record,
            field_name=field_key,
            file_name=(upload.name or "")[-255:] or attachment_id.hex,
            content_type=prepared.content_type,
            size=len(prepared.data),
            # Of the stored bytes: a hash of the plain file would confirm a guess of its content.
            sha256=hashlib.sha256(stored).hexdigest(),
            storage_name=stored_name,
            thumbnail_name=thumbnail_name,
            uploaded_by=user,
            uploaded_at=timezone.now(),
        )
        record_event(
            "attachment.upload",
            user=user,
            object_type="attachment",
            object_id=attachment.pk,
            details={
                "record": str(record.pk),
                "record_type": record.record_type.unique_id,
                "field": field_key,
                "content_type": attachment.content_type,
                "size": attachment.size,
            },
        )
    logger.info("Stored attachment %s for record %s", attachment.pk, record.pk)
    return attachment


def attachments_by_id(record: Record, ids: Iterable[object]) -> dict[str, Attachment]:
    """Return the attachments of `record` among `ids`, by id as text.

    Ids of other records' attachments are left out: a value sent through the API may name any
    id, and only the record's own files may be shown with it.
    """
    wanted = set()
    for item in ids:
        try:
            wanted.add(uuid.UUID(str(item)))
        except ValueError:
            continue
    if not wanted:
        return {}
    return {str(a.pk): a for a in Attachment.objects.filter(record=record, pk__in=wanted)}
