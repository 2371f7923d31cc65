"""Attachments: content sniffing, limits, metadata stripping, upload, download and history."""

import io
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import ExifTags, Image

from tutela.access.models import Agency, User
from tutela.attachments import content
from tutela.attachments.actions import AttachmentRejected, add_attachment, prepare
from tutela.attachments.models import Attachment
from tutela.audit.models import AuditEntry
from tutela.configuration.forms import get_form
from tutela.configuration.models import Field
from tutela.encryption.files import decrypt_bytes, is_encrypted
from tutela.records import actions
from tutela.records.models import Record
from tutela.web.display import Display

pytestmark = pytest.mark.usefixtures("sample_config")

GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (12.0, 30.0, 15.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (33.0, 12.0, 5.0),
}


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def jpeg(size: tuple[int, int] = (40, 20), orientation: int | None = None) -> bytes:
    """Return a small JPEG with a camera model, a GPS position and maybe an orientation in EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = "Test camera"
    exif[ExifTags.IFD.GPSInfo] = GPS
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "PNG")
    return out.getvalue()


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


def upload(data: bytes, name: str = "file.bin") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def field_of(field_type: str) -> Field:
    return Field(name=field_type, type=field_type)


def photo_field() -> Field:
    return get_form("case").fields["photo"]


# What a file is


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, content.JPEG),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, content.PNG),
        (b"RIFF\0\0\0\0WEBPVP8 ", content.WEBP),
        (b"%PDF-1.7\n", content.PDF),
        (b"ID3\x04\0\0\0\0\0\0", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + b"\0" * 8, "audio/mpeg"),
        (b"OggS\0\x02" + b"\0" * 10, "audio/ogg"),
        (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
        (b"\x1aE\xdf\xa3\x9fB\x86\x81", "audio/webm"),
        (b"\0\0\0\x20ftypM4A \0\0\0\0", "audio/mp4"),
        (b"\0\0\0\x14ftyp3gp4\0\0\0\0", "audio/3gpp"),
        (b"#!AMR\n", "audio/amr"),
        (b"<html><script>alert(1)</script>", None),
        (b"MZ\x90\0", None),
    ],
)
def test_sniff_reads_the_type_from_the_bytes(data: bytes, expected: str | None) -> None:
    assert content.sniff(data) == expected


def test_sniff_tells_a_word_document_from_its_parts() -> None:
    assert content.sniff(docx()) == content.DOCX


def test_sniff_rejects_a_plain_zip() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.exe", "MZ")
    assert content.sniff(out.getvalue()) is None


# Images lose their metadata


def test_source_photo_carries_gps() -> None:
    assert Image.open(io.BytesIO(jpeg())).getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_clean_image_drops_gps() -> None:
    cleaned = content.clean_image(jpeg())
    assert not Image.open(io.BytesIO(cleaned.data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_clean_image_drops_all_exif() -> None:
    cleaned = content.clean_image(jpeg())
    assert b"Exif" not in cleaned.data


def test_clean_image_drops_the_camera_model() -> None:
    cleaned = content.clean_image(jpeg())
    assert b"Test camera" not in cleaned.data


def test_clean_image_turns_the_pixels_as_exif_said() -> None:
    cleaned = content.clean_image(jpeg(size=(40, 20), orientation=6))
    assert Image.open(io.BytesIO(cleaned.data)).size == (20, 40)


def test_clean_image_makes_a_small_thumbnail() -> None:
    cleaned = content.clean_image(jpeg(size=(1600, 800)))
    assert Image.open(io.BytesIO(cleaned.thumbnail)).size == (320, 160)


def test_clean_image_keeps_a_palette_png_readable() -> None:
    cleaned = content.clean_image(png())
    assert cleaned.content_type == content.PNG


def test_clean_image_rejects_a_truncated_file() -> None:
    with pytest.raises(content.ContentRejected):
        content.clean_image(jpeg()[:200])


def test_clean_image_rejects_a_huge_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "MAX_PIXELS", 100)
    with pytest.raises(content.ContentRejected):
        content.clean_image(jpeg(size=(40, 20)))


# Limits


def test_prepare_rejects_a_file_over_the_size_limit(settings: Any) -> None:
    settings.TUTELA_MAX_UPLOAD_MB = 1
    big = b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 1)
    with pytest.raises(AttachmentRejected, match="at most 1 MB"):
        prepare(upload(big, "scan.pdf"), field_of("document"))


def test_prepare_rejects_a_document_in_a_photo_field() -> None:
    with pytest.raises(AttachmentRejected, match="JPEG, PNG or WebP"):
        prepare(upload(b"%PDF-1.7\n", "scan.pdf"), field_of("photo"))


def test_prepare_rejects_a_page_named_like_a_photo() -> None:
    with pytest.raises(AttachmentRejected):
        prepare(upload(b"<html><script></script></html>", "photo.jpg"), field_of("photo"))


def test_prepare_takes_audio_in_an_audio_field() -> None:
    prepared = prepare(upload(b"OggS\0\x02" + b"\0" * 30, "voice.ogg"), field_of("audio"))
    assert prepared.content_type == "audio/ogg"


def test_prepare_takes_a_word_document() -> None:
    prepared = prepare(upload(docx(), "plan.docx"), field_of("document"))
    assert prepared.content_type == content.DOCX


def test_add_attachment_refuses_more_than_the_record_limit(settings: Any, caseworker: User) -> None:
    settings.TUTELA_MAX_ATTACHMENTS_PER_RECORD = 1
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    add_attachment(record.pk, photo_field(), "photo", upload(jpeg(), "a.jpg"), caseworker)
    with pytest.raises(AttachmentRejected, match="already has 1 files"):
        add_attachment(record.pk, photo_field(), "photo", upload(jpeg(), "b.jpg"), caseworker)


# Storing


@pytest.fixture
def stored(caseworker: User) -> Attachment:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    return add_attachment(
        record.pk, photo_field(), "photo", upload(jpeg(), "Amal Haddad.jpg"), caseworker
    )


def test_stored_name_is_not_the_file_name(stored: Attachment) -> None:
    assert "Amal" not in stored.storage_name


def test_stored_file_has_no_gps(stored: Attachment, media: Path) -> None:
    data = decrypt_bytes((media / stored.storage_name).read_bytes())
    assert not Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_stored_checksum_is_of_the_stored_bytes(stored: Attachment, media: Path) -> None:
    import hashlib

    assert stored.sha256 == hashlib.sha256((media / stored.storage_name).read_bytes()).hexdigest()


def test_stored_file_is_encrypted(stored: Attachment, media: Path) -> None:
    data = (media / stored.storage_name).read_bytes()
    assert is_encrypted(data)
    assert Image.open(io.BytesIO(decrypt_bytes(data))).format == "JPEG"


def test_upload_is_audited_without_the_file_name(stored: Attachment) -> None:
    entry = AuditEntry.objects.filter(action="attachment.upload").get()
    assert entry.object_id == str(stored.pk)
    assert "Amal" not in str(entry.details)


# Through the pages


@pytest.fixture
def outsider(db: None) -> User:
    other = Agency.objects.create(unique_id="agency-two", name={"en": "Agency Two"})
    return User.objects.create_user("omar", password="correct horse battery", agency=other)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def identity_post(record: Record, **values: Any) -> dict[str, Any]:
    return {"version": str(record.version), "f_name_first": "Amal", **values}


def edit_url(record: Record) -> str:
    return f"/cases/{record.pk}/sections/basic_identity/edit"


def test_edit_page_offers_a_file_picker(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    html = signed_in(caseworker).get(edit_url(record)).content.decode()
    assert re.search(r'<input type="file" id="id_f_photo-upload" name="f_photo"', html)


def test_registration_offers_no_file_picker(caseworker: User) -> None:
    html = signed_in(caseworker).get("/cases/new").content.decode()
    assert "Files can be added once the record is registered." in html


def test_upload_through_the_section_form_saves_the_id(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    signed_in(caseworker).post(
        edit_url(record), identity_post(record, f_photo=upload(jpeg(), "amal.jpg"))
    )
    record.refresh_from_db()
    assert record.data["photo"] == [str(Attachment.objects.get().pk)]


def test_refused_upload_is_named_at_the_field(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    response = signed_in(caseworker).post(
        edit_url(record), identity_post(record, f_phone="1", f_photo=upload(b"%PDF-1.7", "x.pdf"))
    )
    assert re.search(r'id="id_f_photo-error">[^<]*x\.pdf is not a file', response.content.decode())


def test_refused_upload_saves_nothing_else(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    signed_in(caseworker).post(
        edit_url(record), identity_post(record, f_phone="1", f_photo=upload(b"%PDF-1.7", "x.pdf"))
    )
    record.refresh_from_db()
    assert record.version == 1


def test_remove_box_drops_the_file_from_the_field(stored: Attachment, caseworker: User) -> None:
    record = stored.record
    record = actions.update_record(
        record.pk, {"photo": [str(stored.pk)]}, caseworker, base_version=1
    )
    signed_in(caseworker).post(
        edit_url(record),
        identity_post(record, **{"f_photo": str(stored.pk), "f_photo.remove": str(stored.pk)}),
    )
    record.refresh_from_db()
    assert "photo" not in record.data


def test_ids_of_other_records_files_are_dropped(stored: Attachment, caseworker: User) -> None:
    other = actions.create_record("case", {"name_first": "Samir"}, caseworker)
    signed_in(caseworker).post(edit_url(other), identity_post(other, f_photo=str(stored.pk)))
    other.refresh_from_db()
    assert "photo" not in other.data


def fetch(user: User, url: str) -> Any:
    """GET a file and read it to the end, which closes it (a streamed response keeps it open)."""
    response = signed_in(user).get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def with_photo(stored: Attachment, user: User) -> Record:
    return actions.update_record(
        stored.record.pk, {"photo": [str(stored.pk)]}, user, base_version=1
    )


def test_record_page_shows_a_thumbnail(stored: Attachment, caseworker: User) -> None:
    record = with_photo(stored, caseworker)
    html = signed_in(caseworker).get(f"/cases/{record.pk}/").content.decode()
    assert f'src="/attachments/{stored.pk}/thumbnail"' in html


def test_download_serves_the_sniffed_type(stored: Attachment, caseworker: User) -> None:
    response = fetch(caseworker, f"/attachments/{stored.pk}")
    assert response["Content-Type"] == "image/jpeg"


def test_download_forbids_sniffing(stored: Attachment, caseworker: User) -> None:
    response = fetch(caseworker, f"/attachments/{stored.pk}")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_download_names_the_file(stored: Attachment, caseworker: User) -> None:
    response = fetch(caseworker, f"/attachments/{stored.pk}")
    assert response["Content-Disposition"].startswith("inline; filename=")


def test_document_downloads_as_an_attachment(caseworker: User) -> None:
    record = actions.create_record("case", {"name_first": "Amal"}, caseworker)
    document = add_attachment(
        record.pk, field_of("document"), "photo", upload(b"%PDF-1.7\n", "plan.pdf"), caseworker
    )
    response = fetch(caseworker, f"/attachments/{document.pk}")
    assert response["Content-Disposition"] == 'attachment; filename="plan.pdf"'


def test_download_is_audited(stored: Attachment, caseworker: User) -> None:
    fetch(caseworker, f"/attachments/{stored.pk}/thumbnail")
    entry = AuditEntry.objects.filter(action="attachment.download").get()
    assert entry.details["variant"] == "thumbnail"


def test_download_out_of_scope_is_not_found(stored: Attachment, outsider: User) -> None:
    assert fetch(outsider, f"/attachments/{stored.pk}").status_code == 404


def test_download_of_an_unknown_id_is_not_found(caseworker: User) -> None:
    assert fetch(caseworker, f"/attachments/{uuid.uuid4()}").status_code == 404


def test_download_needs_sign_in(stored: Attachment) -> None:
    assert Client().get(f"/attachments/{stored.pk}").status_code == 302


def test_history_names_the_added_file(stored: Attachment, caseworker: User) -> None:
    record = with_photo(stored, caseworker)
    html = signed_in(caseworker).get(f"/cases/{record.pk}/history").content.decode()
    assert "Added: Amal Haddad.jpg" in html


def test_history_first_file_has_no_before(stored: Attachment, caseworker: User) -> None:
    record = with_photo(stored, caseworker)
    html = signed_in(caseworker).get(f"/cases/{record.pk}/history").content.decode()
    assert "1 file" not in html


def test_file_names_of_no_value_is_empty(stored: Attachment) -> None:
    display = Display(get_form("case"), record=stored.record)
    assert display.file_names(None) == ""
