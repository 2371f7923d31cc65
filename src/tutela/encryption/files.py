"""Encrypted files: AES-256-GCM in chunks, so a download is decrypted while it streams.

Layout: a 32-byte header (the magic `TUTELA-ENCFILE01`, the data key id as 8 bytes big-endian,
an 8-byte random nonce prefix), then chunks of at most CHUNK_BYTES of plain text, each
encrypted with the nonce prefix plus the chunk number and followed by its 16-byte tag. The
associated data of each chunk is the header and a flag that marks the last chunk, so a file
cut short, reordered or given another header fails to decrypt.

Each file has its own data key, wrapped by the active master key (tutela.encryption.models).
"""

import secrets
import struct
from collections.abc import Iterator
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tutela.encryption import envelope
from tutela.encryption.models import Purpose

MAGIC = b"TUTELA-ENCFILE01"
HEADER_BYTES = 32
CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16


class FileKey:
    """A new per-file data key; one key may encrypt a file and its thumbnail."""

    def __init__(self) -> None:
        self.key_id, self.cipher = envelope.create_data_key(Purpose.FILE)

    def encrypt(self, data: bytes) -> bytes:
        header = MAGIC + struct.pack(">Q", self.key_id) + secrets.token_bytes(8)
        parts = [header]
        count = max(1, -(-len(data) // CHUNK_BYTES))
        for index in range(count):
            chunk = data[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
            parts.append(
                self.cipher.encrypt(nonce(header, index), chunk, aad(header, index == count - 1))
            )
        return b"".join(parts)


def nonce(header: bytes, index: int) -> bytes:
    return header[24:32] + struct.pack(">I", index)


def aad(header: bytes, last: bool) -> bytes:
    return header + (b"\x01" if last else b"\x00")


def plain_size(stored_size: int) -> int:
    """Return the size of the plain text of an encrypted file of `stored_size` bytes."""
    body = stored_size - HEADER_BYTES
    chunks = max(1, -(-body // (CHUNK_BYTES + TAG_BYTES)))
    return body - chunks * TAG_BYTES


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def data_key_id(header: bytes) -> int:
    return int(struct.unpack(">Q", header[16:24])[0])


def decrypt_stream(handle: IO[bytes] | Any, *, close: bool = True) -> Iterator[bytes]:
    """Yield the plain text of an encrypted file chunk by chunk; raise DecryptionFailed if any
    chunk is damaged, missing or out of place."""
    try:
        header = handle.read(HEADER_BYTES)
        if len(header) != HEADER_BYTES or not is_encrypted(header):
            raise envelope.DecryptionFailed("The file is not an encrypted Tutela file.")
        cipher: AESGCM = envelope.data_key(data_key_id(header))
        index = 0
        current = handle.read(CHUNK_BYTES + TAG_BYTES)
        while True:
            following = (
                handle.read(CHUNK_BYTES + TAG_BYTES)
                if len(current) == CHUNK_BYTES + TAG_BYTES
                else b""
            )
            last = not following
            try:
                yield cipher.decrypt(nonce(header, index), current, aad(header, last))
            except InvalidTag:
                raise envelope.DecryptionFailed(
                    f"Chunk {index} of an encrypted file is damaged."
                ) from None
            if last:
                return
            current = following
            index += 1
    finally:
        if close:
            handle.close()


def decrypt_bytes(data: bytes) -> bytes:
    import io

    return b"".join(decrypt_stream(io.BytesIO(data)))
