"""Master keys and the search-hash key, read from a restricted TOML file.

The keys come from the secrets file (TUTELA_SECRETS_FILE) when it has a `[master_keys]` table,
and otherwise from `keys.toml` in TUTELA_VAR_DIR, which the quick start and the test settings
write. Without either, encryption at rest is off and sensitive values are stored in clear
(`tutela keys status` reports it).

    index_key = "<32 random bytes, base64>"
    [master_keys]
    mk-20261204T2350 = "<32 random bytes, base64>"

`tutela keys rotate` adds a line to `[master_keys]`. A process that meets a master key id it
has not loaded reads the file again, so a running server learns a new key without a restart.
"""

import base64
import binascii
import datetime as dt
import os
import re
import secrets
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from tutela.ops.files import atomic_write_bytes

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_BYTES = 32


class KeyringError(Exception):
    """The keys file is missing, unreadable, or lacks a key that data refers to."""


@dataclass
class Keyring:
    path: Path | None
    master_keys: dict[str, bytes] = field(default_factory=dict)
    index_key: bytes = b""

    @property
    def enabled(self) -> bool:
        return bool(self.master_keys)

    def newest_master_key_id(self) -> str:
        """Return the id that sorts last: ids written by `keys rotate` carry the UTC time."""
        if not self.master_keys:
            raise KeyringError("No master key is configured; see docs/encryption.md.")
        return max(self.master_keys)


_lock = threading.Lock()
_loaded: list[Keyring] = []


def keys_path() -> Path | None:
    """Return the file the keys come from, or None when no file contains them."""
    secrets_file = os.environ.get("TUTELA_SECRETS_FILE")
    if secrets_file and "master_keys" in settings.SECRETS:
        return Path(secrets_file)
    local = Path(settings.VAR_DIR) / "keys.toml"
    return local if local.exists() else None


def decode_key(value: object, what: str, path: Path) -> bytes:
    try:
        key = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(
            f"{what} in {path} is not base64; generate one with `tutela keys rotate`."
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{what} in {path} is {len(key)} bytes long; it must be {KEY_BYTES}.")
    return key


def read_keyring(path: Path | None) -> Keyring:
    if path is None:
        return Keyring(None)
    if path.stat().st_mode & 0o077:
        raise KeyringError(
            f"The keys file {path} is readable by other users: run `chmod 600 {path}`."
        )
    with path.open("rb") as f:
        try:
            document = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise KeyringError(f"The keys file {path} is not valid TOML: {e}") from None

    ring = Keyring(path)
    for key_id, value in document.get("master_keys", {}).items():
        if not KEY_ID.match(key_id):
            raise KeyringError(
                f"Master key id {key_id!r} in {path} may hold only letters, digits, - and _."
            )
        ring.master_keys[key_id] = decode_key(value, f"Master key {key_id}", path)
    if ring.master_keys:
        if "index_key" not in document:
            raise KeyringError(f"{path} has master keys but no index_key; see docs/encryption.md.")
        ring.index_key = decode_key(document["index_key"], "index_key", path)
    return ring


def keyring() -> Keyring:
    with _lock:
        if not _loaded:
            _loaded.append(read_keyring(keys_path()))
        return _loaded[0]


def forget() -> None:
    """Drop the loaded keys; the next use reads the keys file again."""
    with _lock:
        _loaded.clear()


def reload() -> Keyring:
    forget()
    if "master_keys" in settings.SECRETS:
        # The secrets file was read at start; read it again for keys added since.
        secrets_file = os.environ["TUTELA_SECRETS_FILE"]
        with open(secrets_file, "rb") as f:
            settings.SECRETS["master_keys"] = tomllib.load(f).get("master_keys", {})
    return keyring()


def master_key(key_id: str) -> bytes:
    """Return a master key by id, reading the keys file again once if it is not loaded."""
    key = keyring().master_keys.get(key_id)
    if key is None:
        key = reload().master_keys.get(key_id)
    if key is None:
        raise KeyringError(
            f"Master key {key_id} is not in the keys file; data wrapped by it cannot be read. "
            f"Restore the key from its offline copy."
        )
    return key


def new_master_key_id() -> str:
    return "mk-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def encoded_new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def add_master_key(path: Path) -> str:
    """Add a new random master key to the keys file at `path`; return its id.

    The file is rewritten atomically with its mode kept, and checked to parse before it
    replaces the old one. A file without keys gets an `index_key` too.
    """
    text = path.read_text() if path.exists() else ""
    existing = tomllib.loads(text).get("master_keys", {}) if text else {}
    key_id = new_master_key_id()
    suffix = 1
    while key_id in existing:
        # Two rotations within one second.
        suffix += 1
        key_id = f"{new_master_key_id()}-{suffix}"
    entry = f'{key_id} = "{encoded_new_key()}"'
    if not text.strip():
        text = f'index_key = "{encoded_new_key()}"\n\n[master_keys]\n'
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.strip() == "[master_keys]"), None)
    if header is None:
        # A dotted key at the very top is always a top-level key, whatever tables follow.
        lines.insert(0, f"master_keys.{entry}")
    else:
        lines.insert(header + 1, entry)
    if not any(line.split("=")[0].strip() == "index_key" for line in lines):
        lines.insert(0, f'index_key = "{encoded_new_key()}"')
    new_text = "\n".join(lines) + "\n"

    document = tomllib.loads(new_text)
    if key_id not in document.get("master_keys", {}):
        raise KeyringError(
            f"Could not add a master key to {path}; add it by hand (docs/encryption.md)."
        )
    atomic_write_bytes(path, new_text.encode(), mode=0o600)
    return key_id


def ensure_keys_file(path: Path) -> None:
    """Write a keys file with a first master key and an index key, unless one exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    add_master_key(path)
