"""Master key rotation: add a key, move new writes to it, rewrap data keys, retire old keys.

1. `rotate` adds a master key to the keys file and creates a field data key wrapped by it.
   Every process writes new values under the newest field data key (checked every
   ACTIVE_KEY_TTL_SECONDS), and wraps each new file key with that key's master key. A process
   started before the rotation reads the keys file again when it meets the new key id.
2. `rewrap` unwraps each data key still wrapped by an older master key and wraps it again by
   the active one, in short transactions of `batch` rows that skip rows locked by others. The
   data keys themselves do not change, so no record or file is rewritten and readers never
   wait.
3. `retire` removes a master key from the keys file once no data key refers to it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from tutela.encryption import envelope, keyring
from tutela.encryption.models import DataKey, Purpose
from tutela.ops.files import atomic_write_bytes

logger = logging.getLogger(__name__)


class RotationError(Exception):
    """A key operation cannot run; the message gives the reason and the next step."""


@dataclass
class MasterKeyStatus:
    key_id: str
    in_keys_file: bool
    data_keys: int
    active: bool


def status() -> list[MasterKeyStatus]:
    ring = keyring.keyring()
    counts = dict(DataKey.objects.values_list("master_key_id").annotate(n=Count("id")).order_by())
    active = envelope.active_master_key_id() if ring.enabled else ""
    ids = sorted(set(ring.master_keys) | set(counts))
    return [
        MasterKeyStatus(key_id, key_id in ring.master_keys, counts.get(key_id, 0), key_id == active)
        for key_id in ids
    ]


def rotate(path: Path) -> str:
    """Add a master key to the keys file at `path` and make new writes use it; return its id."""
    key_id = keyring.add_master_key(path)
    ring = keyring.reload()
    if key_id not in ring.master_keys:
        raise RotationError(
            f"Master key {key_id} was written to {path}, but this site reads its keys from "
            f"{ring.path}. Point TUTELA_SECRETS_FILE or TUTELA_VAR_DIR at the file rotated."
        )
    # The newest field data key decides the active master key (envelope.active_master_key_id).
    plain = AESGCM.generate_key(bit_length=256)
    DataKey.objects.create(
        purpose=Purpose.FIELDS, master_key_id=key_id, wrapped=envelope.wrap(key_id, plain)
    )
    envelope.forget_cached_keys()
    logger.info("Added master key %s; new writes use it", key_id)
    return key_id


def rewrap(batch: int = 500, progress: Callable[[int], None] | None = None) -> int:
    """Wrap every data key under the active master key; return how many were rewrapped."""
    target = envelope.active_master_key_id()
    done = 0
    while True:
        with transaction.atomic():
            rows = list(
                DataKey.objects.select_for_update(skip_locked=True)
                .exclude(master_key_id=target)
                .order_by("id")[:batch]
            )
            for row in rows:
                plain = envelope.unwrap(row.master_key_id, bytes(row.wrapped))
                row.wrapped = envelope.wrap(target, plain)
                row.master_key_id = target
                row.rewrapped_at = timezone.now()
            DataKey.objects.bulk_update(rows, ["wrapped", "master_key_id", "rewrapped_at"])
        if not rows:
            break
        done += len(rows)
        if progress:
            progress(done)
    logger.info("Rewrapped %d data keys under master key %s", done, target)
    return done


def references(key_id: str) -> int:
    return DataKey.objects.filter(master_key_id=key_id).count()


def retire(key_id: str, *, execute: bool) -> None:
    """Remove a master key from the keys file; refuse while any data key is wrapped by it."""
    ring = keyring.keyring()
    if key_id not in ring.master_keys or ring.path is None:
        raise RotationError(
            f"Master key {key_id!r} is not in the keys file; `tutela keys status` lists the keys."
        )
    if key_id == envelope.active_master_key_id():
        raise RotationError(f"Master key {key_id} is the active key; rotate to a new key first.")
    count = references(key_id)
    if count:
        raise RotationError(
            f"{count} data keys are still wrapped by master key {key_id}; "
            f"run `tutela keys rewrap` first."
        )
    if not execute:
        return
    lines = ring.path.read_text().splitlines()
    kept = [
        line
        for line in lines
        if line.split("=")[0].strip() not in (key_id, f"master_keys.{key_id}")
    ]
    atomic_write_bytes(ring.path, ("\n".join(kept) + "\n").encode(), mode=0o600)
    keyring.reload()
    logger.info("Retired master key %s", key_id)
