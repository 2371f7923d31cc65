"""Encryption at rest: sensitive values, history, derived columns, search, files, key rotation,
and a real pg_dump that must not contain any of the plain text."""

import io
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from PIL import Image

from tests.sample_configuration import sample
from tutela.access.models import User
from tutela.attachments.actions import add_attachment
from tutela.attachments.models import Attachment
from tutela.audit.models import AuditEntry
from tutela.configuration.forms import get_form
from tutela.configuration.loading import load_configuration
from tutela.encryption import envelope, keyring, rotation
from tutela.encryption.files import decrypt_bytes, is_encrypted
from tutela.encryption.models import DataKey
from tutela.ops import pgtools
from tutela.records import actions
from tutela.records.models import Record, RecordHistory
from tutela.records.search import Criteria, SearchError, find_by_name, find_duplicates, search

FIRST = "Zainabou"
LAST = "Okonkwo"
NATIONAL_ID = "UT123456"
PHONE = "+256700111222"


def sensitive_sample() -> dict[str, Any]:
    """The sample configuration with the date of birth, id number and phone also sensitive."""
    document = sample()
    case = document["record_types"][0]
    for section in case["form_sections"]:
        for field in section.get("fields", []):
            if field["name"] in ("date_of_birth", "national_id", "phone"):
                field["sensitive"] = True
            if field["name"] == "national_id":
                field["searchable"] = True
    return document


@pytest.fixture
def configured(db: None) -> None:
    load_configuration(sensitive_sample())


@pytest.fixture
def keys_file(settings: Any, tmp_path: Path) -> Any:
    """A copy of the suite's keys file, so that rotations leave the suite's keys alone."""
    suite_keys = keyring.keyring().path
    assert suite_keys is not None
    copy = tmp_path / "keys.toml"
    copy.write_bytes(suite_keys.read_bytes())
    copy.chmod(0o600)
    settings.VAR_DIR = tmp_path
    keyring.reload()
    envelope.forget_cached_keys()
    yield tmp_path / "keys.toml"
    # Read again lazily, once the settings fixture has put TUTELA_VAR_DIR back.
    keyring.forget()
    envelope.forget_cached_keys()


def new_case(user: User, **values: Any) -> Record:
    defaults = {
        "name_first": FIRST,
        "name_last": LAST,
        "national_id": NATIONAL_ID,
        "date_of_birth": "2015-03-02",
        "sex": "female",
        "phone": PHONE,
    }
    return actions.create_record("case", {**defaults, **values}, user)


def stored_row(record: Record, *columns: str) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM records_record WHERE id = %s",  # noqa: S608
            [record.pk],
        )
        row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def raw_text(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT string_agg({column}::text, ' ') FROM {table}")  # noqa: S608
        return str(cursor.fetchone()[0])


# Values in the database


@pytest.mark.usefixtures("configured")
def test_sensitive_value_is_encrypted_in_data(caseworker: User) -> None:
    record = new_case(caseworker)
    (data,) = stored_row(record, "data::text")
    assert FIRST not in data
    assert NATIONAL_ID not in data
    assert '"name_first": "enc1:' in data


@pytest.mark.usefixtures("configured")
def test_value_not_sensitive_stays_plain(caseworker: User) -> None:
    record = new_case(caseworker)
    (data,) = stored_row(record, "data::text")
    assert '"sex": "female"' in data


@pytest.mark.usefixtures("configured")
def test_reading_a_record_decrypts(caseworker: User) -> None:
    record = Record.objects.get(pk=new_case(caseworker).pk)
    assert record.data["name_first"] == FIRST
    assert record.data["date_of_birth"] == "2015-03-02"
    assert record.display_name == f"{FIRST} {LAST}"


@pytest.mark.usefixtures("configured")
def test_key_lookup_decrypts(caseworker: User) -> None:
    record = new_case(caseworker)
    value = Record.objects.filter(pk=record.pk).values_list("data__name_first", flat=True).get()
    assert value == FIRST


@pytest.mark.usefixtures("configured")
def test_history_values_are_encrypted(caseworker: User) -> None:
    record = new_case(caseworker)
    actions.update_record(record.pk, {"name_first": "Amina"}, caseworker, base_version=1)
    stored = raw_text("records_recordhistory", "changes")
    assert FIRST not in stored
    assert "Amina" not in stored
    change = RecordHistory.objects.get(record=record, version=2).changes["name_first"]
    assert change == {"old": FIRST, "new": "Amina"}


@pytest.mark.usefixtures("configured")
def test_derived_columns_hold_no_plain_name(caseworker: User) -> None:
    record = new_case(caseworker)
    row = stored_row(
        record, "display_name", "name_keys::text", "search_vector::text", "search_tokens::text"
    )
    for column in row:
        assert FIRST.lower() not in str(column).lower()
        assert NATIONAL_ID.lower() not in str(column).lower()


@pytest.mark.usefixtures("configured")
def test_birth_year_not_taken_from_a_sensitive_date(caseworker: User) -> None:
    record = new_case(caseworker)
    (year,) = stored_row(record, "match_birth_year")
    assert year is None


@pytest.mark.usefixtures("configured")
def test_audit_entry_holds_no_value(caseworker: User) -> None:
    new_case(caseworker)
    assert FIRST not in raw_text("audit_auditentry", "details")


@pytest.mark.usefixtures("configured")
def test_value_moved_to_another_field_fails(caseworker: User) -> None:
    record = new_case(caseworker)
    sealed = envelope.seal("x", "name_first")
    with pytest.raises(envelope.DecryptionFailed, match="name_last"):
        envelope.unseal(sealed, "name_last")
    assert record.pk


# Search without plain text


@pytest.mark.usefixtures("configured")
def test_text_search_finds_a_sensitive_name(caseworker: User) -> None:
    record = new_case(caseworker)
    new_case(caseworker, name_first="Other", name_last="Child", national_id="UT654321")
    found = search(Criteria(record_type="case", text=f"{LAST} {FIRST}")).records
    assert [r.pk for r in found] == [record.pk]


@pytest.mark.usefixtures("configured")
def test_text_search_finds_a_sensitive_id_number(caseworker: User) -> None:
    record = new_case(caseworker)
    found = search(Criteria(record_type="case", text=NATIONAL_ID.lower())).records
    assert [r.pk for r in found] == [record.pk]


@pytest.mark.usefixtures("configured")
def test_fuzzy_name_search_works_on_hashed_keys(caseworker: User) -> None:
    record = new_case(caseworker)
    matches = find_by_name("case", "Zeinabu Okonkwo")
    assert [m.record.pk for m in matches] == [record.pk]


@pytest.mark.usefixtures("configured")
def test_duplicates_found_on_hashed_keys(caseworker: User) -> None:
    record = new_case(caseworker)
    found = find_duplicates("case", {"name_first": FIRST, "name_last": LAST, "sex": "female"})
    assert [c.record.pk for c in found] == [record.pk]


@pytest.mark.usefixtures("configured")
def test_sort_by_encrypted_name_is_rejected(caseworker: User) -> None:
    new_case(caseworker)
    with pytest.raises(SearchError, match="encrypted"):
        search(Criteria(record_type="case", sort="name"))


# Files


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def attach(record: Record, user: User, data: bytes) -> Attachment:
    field = get_form("case").fields["photo"]
    upload = SimpleUploadedFile(f"{FIRST} {LAST}.jpg", data, content_type="image/jpeg")
    return add_attachment(record.pk, field, "photo", upload, user)


@pytest.mark.usefixtures("configured")
def test_each_file_has_its_own_data_key(caseworker: User, media: Path) -> None:
    record = new_case(caseworker)
    first = (media / attach(record, caseworker, jpeg()).storage_name).read_bytes()
    second = (media / attach(record, caseworker, jpeg()).storage_name).read_bytes()
    assert is_encrypted(first)
    assert first[16:24] != second[16:24]


@pytest.mark.usefixtures("configured")
def test_download_streams_the_plain_file(caseworker: User, media: Path) -> None:
    record = new_case(caseworker)
    attachment = attach(record, caseworker, jpeg())
    client = Client()
    client.force_login(caseworker)
    response = client.get(f"/attachments/{attachment.pk}")
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body == decrypt_bytes((media / attachment.storage_name).read_bytes())
    assert Image.open(io.BytesIO(body)).format == "JPEG"


def test_damaged_file_fails_to_decrypt(db: None) -> None:
    from tutela.encryption.files import FileKey

    sealed = bytearray(FileKey().encrypt(b"x" * 100_000))
    sealed[-5] ^= 1
    with pytest.raises(envelope.DecryptionFailed, match="Chunk 1"):
        decrypt_bytes(bytes(sealed))


def test_truncated_file_fails_to_decrypt(db: None) -> None:
    from tutela.encryption.files import CHUNK_BYTES, TAG_BYTES, FileKey

    sealed = FileKey().encrypt(b"x" * (CHUNK_BYTES * 2))
    with pytest.raises(envelope.DecryptionFailed):
        decrypt_bytes(sealed[: 32 + CHUNK_BYTES + TAG_BYTES])


# Key rotation


@pytest.mark.usefixtures("configured")
def test_rotation_moves_new_writes_to_the_new_key(caseworker: User, keys_file: Path) -> None:
    before = new_case(caseworker)
    new_key = rotation.rotate(keys_file)
    after = new_case(caseworker)
    (data,) = stored_row(after, "data->>'name_first'")
    key = DataKey.objects.get(pk=envelope.data_key_id_of(data))
    assert key.master_key_id == new_key
    assert Record.objects.get(pk=before.pk).data["name_first"] == FIRST


@pytest.mark.usefixtures("configured")
def test_rotate_command_is_audited_without_key_material(caseworker: User, keys_file: Path) -> None:
    new_case(caseworker)
    call_command("keys", "rotate", "--keys-file", str(keys_file), stdout=io.StringIO())
    rotated = AuditEntry.objects.get(action="keys.rotate")
    assert rotated.object_id == envelope.active_master_key_id()
    assert AuditEntry.objects.filter(action="keys.rewrap").exists()
    secret_lines = keys_file.read_text()
    for entry in AuditEntry.objects.filter(action__startswith="keys."):
        assert entry.actor.startswith("cli:")
        for line in secret_lines.splitlines():
            value = line.partition("=")[2].strip().strip('"')
            if len(value) > 20:
                assert value not in str(entry.details)
                assert value not in entry.object_id


@pytest.mark.usefixtures("configured")
def test_rewrap_leaves_no_data_key_on_the_old_key(caseworker: User, keys_file: Path) -> None:
    new_case(caseworker)
    old_key = envelope.active_master_key_id()
    rotation.rotate(keys_file)
    rotation.rewrap(batch=1)
    assert rotation.references(old_key) == 0


@pytest.mark.usefixtures("configured")
def test_records_read_after_rewrap_in_a_fresh_process(caseworker: User, keys_file: Path) -> None:
    record = new_case(caseworker)
    rotation.rotate(keys_file)
    rotation.rewrap()
    # A fresh process has no unwrapped key cached: it unwraps with the new master key.
    envelope.forget_cached_keys()
    assert Record.objects.get(pk=record.pk).data["national_id"] == NATIONAL_ID


@pytest.mark.usefixtures("configured")
def test_old_key_is_kept_while_a_data_key_uses_it(caseworker: User, keys_file: Path) -> None:
    new_case(caseworker)
    old_key = envelope.active_master_key_id()
    rotation.rotate(keys_file)
    with pytest.raises(rotation.RotationError, match="still wrapped"):
        rotation.retire(old_key, execute=True)
    assert old_key in keyring.reload().master_keys


@pytest.mark.usefixtures("configured")
def test_old_key_is_retired_after_rewrap(caseworker: User, keys_file: Path) -> None:
    record = new_case(caseworker)
    old_key = envelope.active_master_key_id()
    rotation.rotate(keys_file)
    rotation.rewrap()
    rotation.retire(old_key, execute=True)
    envelope.forget_cached_keys()
    assert old_key not in keyring.reload().master_keys
    assert Record.objects.get(pk=record.pk).data["name_first"] == FIRST


@pytest.mark.usefixtures("configured")
def test_active_key_cannot_be_retired(keys_file: Path) -> None:
    with pytest.raises(rotation.RotationError, match="active"):
        rotation.retire(envelope.active_master_key_id(), execute=True)


@pytest.mark.usefixtures("configured")
def test_process_started_before_rotation_reads_the_new_key(
    caseworker: User, keys_file: Path
) -> None:
    before = keyring.keyring()
    rotation.rotate(keys_file)
    record = new_case(caseworker)
    # A process that loaded the keys file before the rotation meets the new key id.
    keyring._loaded[:] = [before]
    envelope.forget_cached_keys()
    assert Record.objects.get(pk=record.pk).data["phone"] == PHONE


@pytest.mark.usefixtures("configured")
def test_keys_status_lists_the_active_key(keys_file: Path) -> None:
    out = io.StringIO()
    new_key = rotation.rotate(keys_file)
    call_command("keys", "status", stdout=out)
    assert f"{new_key}: wraps 1 data keys (active)" in out.getvalue()


# Existing records


@pytest.mark.usefixtures("configured")
def test_backfill_encrypts_values_stored_in_clear(caseworker: User) -> None:
    record = new_case(caseworker)
    # A record written before encryption was on: plain values, bypassing the model field.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE records_record SET data = data || %s::jsonb WHERE id = %s",
            ['{"name_first": "Plainname"}', record.pk],
        )
    call_command(
        "keys", "encrypt-records", "--batch", "1", stdout=io.StringIO(), stderr=io.StringIO()
    )
    (data,) = stored_row(record, "data::text")
    assert "Plainname" not in data
    assert Record.objects.get(pk=record.pk).data["name_first"] == "Plainname"


def encrypt_records() -> str:
    out = io.StringIO()
    call_command("keys", "encrypt-records", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.usefixtures("configured")
def test_backfill_rewrites_only_clear_records(caseworker: User) -> None:
    new_case(caseworker)
    record = new_case(caseworker)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE records_record SET data = data || %s::jsonb WHERE id = %s",
            ['{"name_first": "Plainname"}', record.pk],
        )
    assert "Checked 2 records. Rewrote 1 records" in encrypt_records()


@pytest.mark.usefixtures("configured")
def test_backfill_second_run_rewrites_nothing(caseworker: User, media: Path) -> None:
    attach(new_case(caseworker), caseworker, jpeg())
    encrypt_records()
    assert "Rewrote 0 records that did not match the configuration, 0 history rows and 0 " in (
        encrypt_records()
    )


# A database dump


@pytest.mark.django_db(transaction=True)
def test_pg_dump_holds_no_plain_text(caseworker: User, media: Path, tmp_path: Path) -> None:
    """Dump the test database with the real pg_dump; no sensitive value or file content shows."""
    load_configuration(sensitive_sample())
    record = new_case(caseworker)
    actions.update_record(record.pk, {"name_last": "Mwangi-Otieno"}, caseworker, base_version=1)
    marker = b"TUTELA-PLAIN-MARKER-" * 8
    # A JPEG comment survives until re-encoding, so the marker sits in the pixels instead.
    image = Image.new("L", (len(marker), 1))
    image.putdata(list(marker))
    out = io.BytesIO()
    image.save(out, "PNG")
    attachment = attach(record, caseworker, out.getvalue())

    server = pgtools.site_server()
    database = pgtools.site_database()
    tools = pgtools.find_tools(pgtools.server_major(server, database))
    dump = subprocess.run(
        [tools.pg_dump, "--format=plain", "--no-owner"],
        env=server.tool_env(database),
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert b"records_record" in dump
    for plain in (FIRST, LAST, "Mwangi-Otieno", NATIONAL_ID, PHONE, "2015-03-02"):
        assert plain.encode() not in dump, plain
        assert plain.lower().encode() not in dump.lower(), plain

    stored = b"".join(path.read_bytes() for path in media.rglob("*") if path.is_file())
    plain_file = decrypt_bytes((media / attachment.storage_name).read_bytes())
    assert Image.open(io.BytesIO(plain_file)).tobytes() == marker
    # Past the PNG signature and image header, which every such image shares.
    assert plain_file[33:] not in stored


@pytest.mark.usefixtures("configured")
def test_file_name_is_encrypted(caseworker: User, media: Path) -> None:
    attachment = attach(new_case(caseworker), caseworker, jpeg())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT file_name FROM attachments_attachment WHERE id = %s", [attachment.pk]
        )
        stored = cursor.fetchone()[0]
    assert FIRST not in stored
    assert Attachment.objects.get(pk=attachment.pk).file_name == f"{FIRST} {LAST}.jpg"


@pytest.mark.usefixtures("configured")
def test_backfill_encrypts_a_plain_file_name(caseworker: User, media: Path) -> None:
    attachment = attach(new_case(caseworker), caseworker, jpeg())
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE attachments_attachment SET file_name = 'Plainname.jpg' WHERE id = %s",
            [attachment.pk],
        )
    call_command("keys", "encrypt-records", stdout=io.StringIO(), stderr=io.StringIO())
    assert "Plainname" not in raw_text("attachments_attachment", "file_name")
    assert Attachment.objects.get(pk=attachment.pk).file_name == "Plainname.jpg"


def test_subform_rows_keep_plain_fields(db: None) -> None:
    from tutela.encryption.policy import Policy, seal_data, unseal_data

    rules = Policy(subform_fields={"family": frozenset({"member_name"})})
    data = {"family": [{"member_name": "Idris", "age": 9}], "sex": "male"}
    sealed = seal_data(data, rules)
    row = sealed["family"][0]
    assert envelope.is_sealed(row["member_name"])
    assert row["age"] == 9
    assert sealed["sex"] == "male"
    assert unseal_data(sealed) == data


def test_subform_value_moved_to_another_row_field_fails(db: None) -> None:
    from tutela.encryption.policy import Policy, seal_data, unseal_data

    rules = Policy(subform_fields={"family": frozenset({"member_name"})})
    row = seal_data({"family": [{"member_name": "Idris"}]}, rules)["family"][0]
    with pytest.raises(envelope.DecryptionFailed, match=r"family\.nickname"):
        unseal_data({"family": [{"nickname": row["member_name"]}]})


@pytest.mark.usefixtures("configured")
def test_second_backfill_run_is_rejected() -> None:
    from django.core.management import CommandError

    from tutela.encryption.management.commands.keys import BACKFILL_LOCK

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [BACKFILL_LOCK])
        with pytest.raises(CommandError, match="Another"):
            call_command("keys", "encrypt-records", stdout=io.StringIO(), stderr=io.StringIO())


# System checks


def test_check_rejects_a_shared_keys_file(settings: Any, tmp_path: Path) -> None:
    from tutela.encryption.checks import check_keys

    settings.VAR_DIR = tmp_path
    keyring.ensure_keys_file(tmp_path / "keys.toml")
    (tmp_path / "keys.toml").chmod(0o644)
    assert [m.id for m in check_keys()] == ["tutela.E301"]


def test_check_warns_production_without_keys(settings: Any, tmp_path: Path) -> None:
    from tutela.encryption.checks import check_keys

    settings.VAR_DIR = tmp_path
    settings.TUTELA_MODE = "production"
    assert [m.id for m in check_keys()] == ["tutela.W301"]


def test_check_silent_with_keys() -> None:
    from tutela.encryption.checks import check_keys

    assert check_keys() == []


@pytest.mark.usefixtures("configured")
def test_anonymise_keeps_kept_values_encrypted(
    caseworker: User, django_capture_on_commit_callbacks: Any
) -> None:
    from tutela.audit.retention import run_retention
    from tutela.records.models import Status

    document = sensitive_sample()
    document["retention"] = {
        "records": [
            {"record_type": "case", "closed_years": 10, "action": "anonymise", "keep": ["phone"]}
        ]
    }
    load_configuration(document)
    record = new_case(caseworker)
    actions.update_record(record.pk, {"phone": "+256700999888"}, caseworker, base_version=1)
    actions.set_status(record.pk, Status.CLOSED, caseworker, base_version=2)
    long_ago = record.updated_at.replace(year=record.updated_at.year - 12)
    Record.objects.filter(pk=record.pk).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        run_retention(execute=True)
    stored = raw_text("records_recordhistory", "changes")
    assert "+256700999888" not in stored
    assert Record.objects.get(pk=record.pk).data == {"phone": "+256700999888"}


def test_create_file_writes_usable_keys(tmp_path: Path) -> None:
    path = tmp_path / "new-keys.toml"
    call_command("keys", "create-file", str(path), stdout=io.StringIO())
    ring = keyring.read_keyring(path)
    assert len(ring.master_keys) == 1
    assert len(ring.index_key) == 32
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("size", [0, 1, 65_536, 65_537, 200_000])
def test_plain_size_from_stored_size(db: None, size: int) -> None:
    from tutela.encryption.files import FileKey, plain_size

    assert plain_size(len(FileKey().encrypt(b"x" * size))) == size
