"""Serving attachments: only through these views, after checking the record's scope.

Files have no public address. Each response names the content type found at upload, forbids
the browser to guess another (`nosniff`), and forbids caches to keep it: a child's photo must
not stay on a shared phone or in a proxy.
"""

import uuid
from typing import cast

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from tutela.attachments.actions import storage
from tutela.attachments.content import EXTENSIONS
from tutela.attachments.models import Attachment
from tutela.audit.log import record_event
from tutela.encryption.files import MAGIC, decrypt_stream, is_encrypted, plain_size
from tutela.web.decorators import signed_in
from tutela.web.views.records import attachment_of


def respond(attachment: Attachment, name: str, content_type: str, inline: bool) -> HttpResponse:
    try:
        handle = storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    file_name = attachment.file_name
    extension = EXTENSIONS.get(content_type)
    if extension and not file_name.lower().endswith(f".{extension}"):
        # The stored type decides the extension, so the file opens as what it is.
        file_name = f"{file_name}.{extension}"
    head = handle.read(len(MAGIC))
    handle.seek(0)
    response: HttpResponseBase
    if is_encrypted(head):
        response = StreamingHttpResponse(decrypt_stream(handle), content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(not inline, file_name) or ""
        response["Content-Length"] = str(plain_size(storage().size(name)))
    else:
        # Stored before encryption at rest was on, or with it off.
        response = FileResponse(
            handle, as_attachment=not inline, filename=file_name, content_type=content_type
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # Opened on its own, a file runs nothing and loads nothing.
    response["Content-Security-Policy"] = "default-src 'none'; media-src 'self'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # A streamed response; the views' decorators are typed for HttpResponse.
    return cast(HttpResponse, response)


def audit_download(request: HttpRequest, attachment: Attachment, variant: str) -> None:
    record_event(
        "attachment.download",
        user=request.user,
        object_type="attachment",
        object_id=attachment.pk,
        details={
            "record": str(attachment.record_id),
            "record_type": attachment.record.record_type.unique_id,
            "field": attachment.field_name,
            "variant": variant,
        },
    )


@require_GET
@signed_in
def download(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponse:
    """The file itself: images and audio inline (for previews), documents as a download."""
    attachment = attachment_of(request, attachment_id)
    audit_download(request, attachment, "file")
    inline = attachment.is_image or attachment.is_audio
    return respond(attachment, attachment.storage_name, attachment.content_type, inline)


@require_GET
@signed_in
def thumbnail(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponse:
    """A small JPEG of an image, for previews on slow links."""
    attachment = attachment_of(request, attachment_id)
    if not attachment.thumbnail_name:
        raise Http404
    audit_download(request, attachment, "thumbnail")
    return respond(attachment, attachment.thumbnail_name, "image/jpeg", inline=True)
