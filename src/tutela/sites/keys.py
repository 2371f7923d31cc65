"""Ed25519 key pairs, signatures and key ids, as raw keys in base64."""

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

RAW = serialization.Encoding.Raw


class KeyInvalid(ValueError):
    """A key text is not a base64 Ed25519 key."""


def generate() -> tuple[str, str]:
    """Return a new (private key, public key) pair, each raw and base64-encoded."""
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(
        RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return _b64(private_raw), public_key_of(private)


def public_key_of(private: Ed25519PrivateKey) -> str:
    return _b64(private.public_key().public_bytes(RAW, serialization.PublicFormat.Raw))


def key_id(public_key: str) -> str:
    """Return the first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(_raw(public_key, "public key")).hexdigest()[:16]


def load_private(text: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(_raw(text, "private key"))
    except ValueError as e:
        raise KeyInvalid(f"The private key is not a raw Ed25519 key: {e}") from None


def load_public(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(_raw(text, "public key"))
    except ValueError as e:
        raise KeyInvalid(f"The public key is not a raw Ed25519 key: {e}") from None


def sign(private_key: str, data: bytes) -> str:
    return _b64(load_private(private_key).sign(data))


def verify(public_key: str, signature: str, data: bytes) -> bool:
    """Return whether `signature` (base64) is the key's signature of `data`."""
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        load_public(public_key).verify(raw_signature, data)
    except InvalidSignature:
        return False
    return True


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyInvalid(f"The {what} is not base64 text.") from None
    if len(raw) != 32:
        raise KeyInvalid(f"The {what} has {len(raw)} bytes; an Ed25519 key has 32.")
    return raw
