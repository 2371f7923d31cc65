"""Writing and checking the audit chain."""

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tutela.audit.context import current_request
from tutela.audit.models import AuditChainStart, AuditEntry, Outcome
from tutela.lib.canonical import canonical_json

logger = logging.getLogger(__name__)

# Key for pg_advisory_xact_lock: one writer at a time extends the chain. Held from the append
# to the end of the writing transaction, so actions append their entry as their last step.
AUDIT_CHAIN_LOCK = 7_410_002
GENESIS_HASH = "0" * 64


def entry_hash(previous_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(previous_hash.encode() + canonical_json(fields)).hexdigest()


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    at = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return {
        "id": entry.id,
        "at": at,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "address": entry.address,
        "user_agent": entry.user_agent,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "outcome": entry.outcome,
        "details": entry.details,
    }


def without_nul(value: Any) -> Any:
    """Replace U+0000, which PostgreSQL cannot store in JSONB, in every string of `value`."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def record_event(
    action: str,
    *,
    user: Any = None,
    object_type: str = "",
    object_id: object = "",
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    actor_name: str = "",
) -> AuditEntry:
    """Append one entry to the audit chain inside the caller's transaction.

    `details` must hold no personal data: field names, filter names, reason codes, counts.
    """
    request = current_request()
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    # Without a transaction the advisory lock would end with its own statement; no savepoint
    # is needed because the entry is the caller's last write.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s), "
                "nextval(pg_get_serial_sequence('audit_auditentry', 'id'))",
                [AUDIT_CHAIN_LOCK],
            )
            row = cursor.fetchone()
        # A separate statement, so that its snapshot is taken after the lock was granted.
        previous = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry = AuditEntry(
            id=row[1] if row else None,
            at=timezone.now(),
            actor_id=user.pk if authenticated else None,
            actor=without_nul(user.get_username() if authenticated else actor_name)[:150],
            address=request.address if request else None,
            user_agent=without_nul(request.user_agent) if request else "",
            action=action,
            object_type=object_type,
            object_id=without_nul(str(object_id))[:100],
            outcome=outcome,
            details=without_nul(details or {}),
            previous_hash=previous or GENESIS_HASH,
        )
        entry.hash = entry_hash(entry.previous_hash, hashed_fields(entry))
        entry.save(force_insert=True)
    return entry


@dataclass
class VerifyResult:
    checked: int
    first_broken: AuditEntry | None
    reason: str = ""


def iter_entries(batch: int = 5000) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def chain_start_hash() -> str:
    """Return the hash the oldest kept entry must follow: the genesis hash, or the hash that
    the retention job recorded when it last deleted the oldest entries."""
    start = AuditChainStart.objects.order_by("-id").first()
    return start.previous_hash if start else GENESIS_HASH


def verify_chain() -> VerifyResult:
    """Recompute every hash in order; return the first entry whose chain is broken."""
    previous = chain_start_hash()
    checked = 0
    for entry in iter_entries():
        if entry.previous_hash != previous:
            return VerifyResult(
                checked,
                entry,
                "its previous_hash does not match the entry before it "
                "(an entry was removed or inserted)",
            )
        if entry_hash(previous, hashed_fields(entry)) != entry.hash:
            return VerifyResult(checked, entry, "its content does not match its hash (altered)")
        previous = entry.hash
        checked += 1
    return VerifyResult(checked, None)


def chain_head() -> str:
    """Return the hash of the newest entry (the genesis hash for an empty log)."""
    head = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    return head or GENESIS_HASH
