"""Pushing a snapshot from the demo site to a production site over HTTPS.

The request carries the signed bundle and the promotion link's token. The server certificate
is always verified: against the system's certificate authorities, or the one in `ca_file`.
"""

import json
import logging
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from tutela.audit.log import record_event
from tutela.promotion.models import Bundle, BundleStatus, Event, Snapshot
from tutela.promotion.snapshots import bundle_bytes
from tutela.sites.actions import require_demo

logger = logging.getLogger(__name__)

API_PATH = "/api/v1/promotions"
TIMEOUT_SECONDS = 60
AUTH_SCHEME = "Promotion"


class PushFailed(Exception):
    pass


@dataclass
class PushResult:
    bundle: Bundle
    status: int
    answer: dict[str, Any]


def push_snapshot(
    snapshot: Snapshot, url: str, token: str, *, ca_file: Path | None = None, actor: str = ""
) -> PushResult:
    """Send `snapshot` to the production site at `url` (https://host[:port])."""
    require_demo("Pushing configuration")
    if not url.startswith("https://"):
        raise PushFailed(f"{url!r} is not an https:// address; promotions travel over HTTPS only.")
    if not snapshot.signature:
        raise PushFailed(f"Snapshot {snapshot.id[:12]} is not signed; only signed ones are sent.")
    body = bundle_bytes(snapshot)
    # The address was checked to be https:// above.
    request = urllib.request.Request(  # noqa: S310
        url.rstrip("/") + API_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"{AUTH_SCHEME} {token}"},
    )
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=TIMEOUT_SECONDS, context=context
        ) as response:
            status, answer = response.status, _json(response.read())
    except urllib.error.HTTPError as e:
        status, answer = e.code, _json(e.read())
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise PushFailed(f"Could not send the snapshot to {url}: {reason}") from None
    bundle = _record_sent(snapshot, url, body, status, answer, actor)
    return PushResult(bundle, status, answer)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"error": {"code": "invalid_answer", "message": "The answer is not JSON."}}
    return value if isinstance(value, dict) else {}


def _record_sent(
    snapshot: Snapshot, url: str, body: bytes, status: int, answer: dict[str, Any], actor: str
) -> Bundle:
    import hashlib

    now = timezone.now()
    accepted = status == 201
    error = answer.get("error") or {}
    bundle = Bundle(
        direction="sent",
        snapshot=snapshot,
        status=BundleStatus.SENT if accepted else BundleStatus.REJECTED,
        reason_code=""
        if accepted
        else str((error.get("details") or {}).get("reason") or error.get("code") or status),
        reason="" if accepted else str(error.get("message", "")),
        channel=url,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        created_at=now,
        updated_at=now,
    )
    with transaction.atomic():
        bundle.save()
        Event.objects.create(
            at=now,
            action="sent" if accepted else "rejected",
            actor=actor,
            bundle=bundle,
            snapshot_id=snapshot.id,
            details={"to": url, "http_status": status},
        )
        record_event(
            "promotion.push",
            object_type="snapshot",
            object_id=snapshot.id,
            details={"to": url, "http_status": status, "reason": bundle.reason_code},
            actor_name=actor,
        )
    logger.info("Pushed snapshot %s to %s: HTTP %d", snapshot.id[:12], url, status)
    return bundle
