"""Envelope encryption with AES-256-GCM: values and files under data keys, data keys under
master keys, and keyed hashes (HMAC-SHA256) for exact-match search.

An encrypted value is a string `enc1:<data key id>:<base64url of nonce, ciphertext and tag>`.
The associated data binds it to the field it belongs to, so a value copied into another field
fails to decrypt instead of showing there.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection

from tutela.encryption import keyring
from tutela.encryption.models import DataKey, Purpose

PREFIX = "enc1:"
NONCE_BYTES = 12
# How long a process keeps using the newest field data key before it checks for a newer one,
# in seconds. After `keys rotate`, writes move to the new key within this time.
ACTIVE_KEY_TTL_SECONDS = 10.0


class DecryptionFailed(Exception):
    """A ciphertext is damaged, belongs elsewhere, or its data key cannot be unwrapped."""


_lock = threading.Lock()
_data_keys: dict[int, AESGCM] = {}
_active: dict[str, tuple[int, AESGCM, float]] = {}


def enabled() -> bool:
    return keyring.keyring().enabled


def wrap(master_key_id: str, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = b"tutela-data-key\0" + master_key_id.encode()
    return nonce + AESGCM(keyring.master_key(master_key_id)).encrypt(nonce, data_key, aad)


def unwrap(master_key_id: str, wrapped: bytes) -> bytes:
    aad = b"tutela-data-key\0" + master_key_id.encode()
    try:
        return AESGCM(keyring.master_key(master_key_id)).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad
        )
    except InvalidTag:
        raise DecryptionFailed(
            f"A data key wrapped by master key {master_key_id} is damaged."
        ) from None


def data_key(key_id: int) -> AESGCM:
    """Return the cipher of a data key, unwrapping it on first use in this process."""
    cipher = _data_keys.get(key_id)
    if cipher is not None:
        return cipher
    row = DataKey.objects.filter(pk=key_id).values_list("master_key_id", "wrapped").first()
    if row is None:
        raise DecryptionFailed(f"Data key {key_id} does not exist.")
    cipher = AESGCM(unwrap(row[0], bytes(row[1])))
    _data_keys[key_id] = cipher
    return cipher


def create_data_key(purpose: str) -> tuple[int, AESGCM]:
    """Create a data key wrapped by the active master key; return its id and cipher.

    The row is inserted and committed on a connection of its own, outside the caller's
    transaction, so it can be cached at once: a rollback of the caller cannot remove a key that
    this process may already have used. An unused key left by a rollback is harmless.
    """
    master_key_id = active_master_key_id()
    plain = AESGCM.generate_key(bit_length=256)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as side, side.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DataKey._meta.db_table} (purpose, master_key_id, wrapped, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, now()) RETURNING id",
            [purpose, master_key_id, wrap(master_key_id, plain)],
        )
        row = cursor.fetchone()
    if row is None:
        raise DecryptionFailed("The new data key was not stored.")
    cipher = AESGCM(plain)
    _data_keys[row[0]] = cipher
    return int(row[0]), cipher


def active_master_key_id() -> str:
    """Return the master key new data keys are wrapped by: that of the newest field key.

    Before the first field key exists, it is the newest master key in the keys file.
    """
    newest = (
        DataKey.objects.filter(purpose=Purpose.FIELDS)
        .order_by("-id")
        .values_list("master_key_id", flat=True)
        .first()
    )
    return newest or keyring.keyring().newest_master_key_id()


def active_field_key() -> tuple[int, AESGCM]:
    """Return the newest field data key, creating the first one when there is none."""
    cached = _active.get(Purpose.FIELDS)
    if cached is not None and cached[2] > time.monotonic():
        return cached[0], cached[1]
    key_id = (
        DataKey.objects.filter(purpose=Purpose.FIELDS)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    if key_id is None:
        key_id, cipher = create_data_key(Purpose.FIELDS)
    else:
        cipher = data_key(key_id)
    with _lock:
        _active[Purpose.FIELDS] = (key_id, cipher, time.monotonic() + ACTIVE_KEY_TTL_SECONDS)
    return key_id, cipher


def forget_cached_keys() -> None:
    """Drop the unwrapped keys this process holds (tests, and after a rotation)."""
    with _lock:
        _data_keys.clear()
        _active.clear()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def field_aad(name: str) -> bytes:
    return b"tutela-field\0" + name.encode()


def seal(value: Any, name: str) -> str:
    """Encrypt a JSON value for the field `name`; an encrypted value is returned unchanged."""
    if is_sealed(value):
        return str(value)
    key_id, cipher = active_field_key()
    nonce = secrets.token_bytes(NONCE_BYTES)
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    sealed = nonce + cipher.encrypt(nonce, plain, field_aad(name))
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def unseal(value: Any, name: str) -> Any:
    """Decrypt a value sealed for the field `name`; any other value is returned unchanged."""
    if not is_sealed(value):
        return value
    try:
        key_text, _, body = str(value)[len(PREFIX) :].partition(":")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        cipher = data_key(int(key_text))
        plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field_aad(name))
    except (ValueError, binascii.Error, InvalidTag):
        # The message names the field, never the value.
        raise DecryptionFailed(
            f"The encrypted value of field {name!r} is damaged or misplaced."
        ) from None
    return json.loads(plain)


def data_key_id_of(value: str) -> int:
    return int(value[len(PREFIX) :].partition(":")[0])


def keyed_hash(text: str, domain: str) -> str:
    """Return an HMAC-SHA256 of `text` under the index key, shortened to 128 bits (22 chars)."""
    key = keyring.keyring().index_key
    digest = hmac.new(key, domain.encode() + b"\0" + text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
