"""Canonical JSON: one byte sequence per value, for hashes and signatures."""

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise with sorted keys, no spaces and UTF-8 text, so equal values hash equally."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
