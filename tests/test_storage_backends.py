"""Documents on each storage backend: local disk, S3 (SeaweedFS) and Azure Blob (Azurite).

The servers are real and run on loopback (tests/storage_servers.py). On every backend the
stored bytes are encrypted, the authorised view streams the plain file and audits it, and a
signed address, where the backend makes one, expires within a minute.
"""

import io
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.storage_servers import AzuriteServer, S3Server, azurite_server, s3_server  # noqa: F401 (fixtures)
from tutela.access.models import User
from tutela.attachments.actions import AttachmentRejected, add_attachment
from tutela.attachments.models import Attachment
from tutela.audit.models import AuditEntry
from tutela.configuration.forms import get_form
from tutela.encryption.files import decrypt_bytes, is_encrypted
from tutela.records import actions
from tutela.records.models import Record

pytestmark = [
    pytest.mark.usefixtures("sample_config"),
    # django-storages 1.14.6 calls datetime.utcnow(), which Python 3.12 deprecated.
    pytest.mark.filterwarnings(
        "ignore:datetime.datetime.utcnow:DeprecationWarning:storages.backends.azure_storage"
    ),
]

# Reads the stored bytes of a name straight from the backend, around Django's storage.
RawReader = Callable[[str], bytes]


def local_backend(settings: Any, tmp_path: Path) -> RawReader:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda name: (tmp_path / "media" / name).read_bytes()


def s3_backend(settings: Any, server: S3Server) -> RawReader:
    # One bucket for the session and a folder per test: SeaweedFS gives each bucket volumes
    # of its own, and a small test server runs out of them.
    bucket = server.bucket
    prefix = uuid.uuid4().hex
    client = server.client()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "location": prefix,
                "endpoint_url": server.endpoint_url,
                "access_key": server.access_key,
                "secret_key": server.secret_key,
                "region_name": "us-east-1",
                "addressing_style": "path",
                "file_overwrite": False,
                "querystring_auth": True,
                "querystring_expire": 60,
                "signature_version": "s3v4",
            },
        },
    }
    return lambda name: bytes(
        client.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
    )


def azure_backend(settings: Any, server: AzuriteServer) -> RawReader:
    container = f"tutela-{uuid.uuid4().hex[:12]}"
    service = server.service()
    service.create_container(container)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.azure_storage.AzureStorage",
            "OPTIONS": {
                "azure_container": container,
                "connection_string": server.connection_string,
                "overwrite_files": False,
                "expiration_secs": 60,
            },
        },
    }
    client = service.get_container_client(container)
    return lambda name: bytes(client.download_blob(name).readall())


@pytest.fixture(params=["local", "s3", "azure"])
def backend(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    name = request.param
    if name == "local":
        reader = local_backend(settings, tmp_path)
    elif name == "s3":
        reader = s3_backend(settings, request.getfixturevalue("s3_server"))
    else:
        reader = azure_backend(settings, request.getfixturevalue("azurite_server"))
    request.node.raw_reader = reader
    yield name


@pytest.fixture
def read_raw(request: pytest.FixtureRequest, backend: str) -> RawReader:
    return request.node.raw_reader  # type: ignore[no-any-return]


def jpeg(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), colour).save(out, "JPEG")
    return out.getvalue()


def store(user: User, data: bytes | None = None) -> tuple[Record, Attachment]:
    record = actions.create_record("case", {"name_first": "Amal"}, user)
    field = get_form("case").fields["photo"]
    upload = SimpleUploadedFile("Amal.jpg", data or jpeg(), content_type="image/jpeg")
    return record, add_attachment(record.pk, field, "photo", upload, user)


def test_stored_bytes_are_encrypted(caseworker: User, read_raw: RawReader) -> None:
    _, attachment = store(caseworker)
    raw = read_raw(attachment.storage_name)
    assert is_encrypted(raw)
    assert Image.open(io.BytesIO(decrypt_bytes(raw))).size == (40, 20)


def test_thumbnail_is_encrypted(caseworker: User, read_raw: RawReader) -> None:
    _, attachment = store(caseworker)
    assert is_encrypted(read_raw(attachment.thumbnail_name))


def test_download_streams_the_plain_file(caseworker: User, read_raw: RawReader) -> None:
    _, attachment = store(caseworker)
    client = Client()
    client.force_login(caseworker)
    response = client.get(f"/attachments/{attachment.pk}")
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert body == decrypt_bytes(read_raw(attachment.storage_name))


def test_download_is_audited(caseworker: User, backend: str) -> None:
    _, attachment = store(caseworker)
    client = Client()
    client.force_login(caseworker)
    b"".join(client.get(f"/attachments/{attachment.pk}").streaming_content)  # type: ignore[attr-defined]
    entry = AuditEntry.objects.filter(action="attachment.download").get()
    assert entry.object_id == str(attachment.pk)


def test_outsider_cannot_download(caseworker: User, backend: str) -> None:
    from tutela.access.models import Agency

    _, attachment = store(caseworker)
    other = Agency.objects.create(unique_id="agency-two", name={"en": "Agency Two"})
    outsider = User.objects.create_user("omar", password="correct horse battery", agency=other)
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/attachments/{attachment.pk}").status_code == 404


def test_record_count_limit_applies(caseworker: User, settings: Any, backend: str) -> None:
    settings.TUTELA_MAX_ATTACHMENTS_PER_RECORD = 1
    record, _ = store(caseworker)
    field = get_form("case").fields["photo"]
    upload = SimpleUploadedFile("b.jpg", jpeg(), content_type="image/jpeg")
    with pytest.raises(AttachmentRejected, match="already has 1 files"):
        add_attachment(record.pk, field, "photo", upload, caseworker)


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_signed_address_expires_within_a_minute(caseworker: User, backend: str) -> None:
    _, attachment = store(caseworker)
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(storages["default"].url(attachment.storage_name)).query
    )
    assert int(query["X-Amz-Expires"][0]) <= 60


@pytest.mark.parametrize("backend", ["azure"], indirect=True)
def test_azure_signed_address_expires_within_a_minute(caseworker: User, backend: str) -> None:
    import datetime as dt

    _, attachment = store(caseworker)
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(storages["default"].url(attachment.storage_name)).query
    )
    expiry = dt.datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    assert expiry - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=61)


# Backups read and restore documents through the storage API


@pytest.mark.parametrize("backend", ["s3", "azure"], indirect=True)
@pytest.mark.django_db(transaction=True)
def test_backup_round_trip_through_the_storage_api(
    caseworker: User,
    backend: str,
    read_raw: RawReader,
    keys: Any,
    scratch_databases: Any,
    ops_settings: Any,
) -> None:
    import hashlib

    from tutela.ops.backup import Encryption, create_backup
    from tutela.ops.documents import StorageDocumentStore, site_document_store
    from tutela.ops.restore import restore_backup, target_for

    _, first = store(caseworker)
    _, second = store(caseworker, jpeg((10, 10, 200)))
    names = [first.storage_name, first.thumbnail_name, second.storage_name]
    before = {name: hashlib.sha256(read_raw(name)).hexdigest() for name in names}
    assert isinstance(site_document_store(), StorageDocumentStore)

    manifest = create_backup(Encryption([keys.public]))
    assert manifest["counts"]["documents"] == 4

    # Restore into an empty database and an empty storage of the same kind.
    source = storages["default"]
    for name in [*names, second.thumbnail_name]:
        source.delete(name)
    target = target_for(scratch_databases.name(), None)
    target.documents = StorageDocumentStore(source)
    restore_backup(manifest["id"], keys.identity, target)
    after = {name: hashlib.sha256(read_raw(name)).hexdigest() for name in names}
    assert after == before
    assert not target.documents.marked_incomplete()
