"""A TOTP code generator (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) for sign-in tests.

It is written here, apart from allauth's own code, so that the tests check allauth against the
standard rather than against itself.
"""

import base64
import hashlib
import hmac
import struct
import time


def totp_code(secret: str, at: float | None = None) -> str:
    counter = int(time.time() if at is None else at) // 30
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
