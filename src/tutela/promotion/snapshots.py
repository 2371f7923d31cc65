"""Making, signing, listing and exporting snapshots of this site's configuration.

A bundle is the file or request body that carries a snapshot between sites:
{"header": {...}, "content": {...}, "signature": "<base64>"}. The header names the snapshot id
(the SHA-256 of the canonical content), its parent, label, author, time, site, the Tutela
versions it fits and the signer's key id. The Ed25519 signature covers the canonical JSON of the
header, and the header's id covers the content.
"""

import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

import tutela
from tutela.audit.log import record_event
from tutela.lib.canonical import canonical_json
from tutela.promotion import content as snapshot_content
from tutela.promotion.models import Event, Origin, Snapshot
from tutela.sites import actions as site_actions
from tutela.sites import keys

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "tutela-bundle/1"


class SnapshotNotFound(LookupError):
    pass


def parse_version(text: str) -> tuple[int, ...]:
    """Parse "1.2.3" into (1, 2, 3); raise ValueError for anything else."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"{text!r} is not a version such as 1.2.3")
    return tuple(int(part) for part in parts) + (0,) * (3 - len(parts))


def default_version_range() -> tuple[str, str]:
    """Return (min, below): this version up to the next minor (0.x) or major version."""
    major, minor, _ = parse_version(tutela.__version__)
    below = f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    return tutela.__version__, below


def version_fits(min_version: str, below_version: str, version: str | None = None) -> bool:
    current = parse_version(version or tutela.__version__)
    return parse_version(min_version) <= current < parse_version(below_version)


def header_of(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "id": snapshot.id,
        "parent": snapshot.parent or None,
        "label": snapshot.label,
        "author": snapshot.author,
        "created_at": snapshot.created_at.isoformat(timespec="seconds"),
        "site": snapshot.site_name,
        "tutela_versions": {"min": snapshot.min_version, "below": snapshot.below_version},
        "signer": snapshot.signer,
    }


def create_snapshot(
    label: str,
    author: str,
    *,
    origin: str = Origin.LOCAL,
    sign: bool = True,
    versions: tuple[str, str] | None = None,
) -> tuple[Snapshot, bool]:
    """Snapshot the configuration in force; return it and whether it is new.

    A snapshot whose content equals an existing one is that snapshot: the id is the content's
    hash. `sign` uses the site's key from the secrets file (see `tutela site keygen`).
    """
    content = snapshot_content.current_content()
    text = canonical_json(content).decode("utf-8")
    snapshot_id = snapshot_content.content_id(content)
    existing = Snapshot.objects.filter(pk=snapshot_id).first()
    if existing is not None:
        return existing, False

    site = site_actions.current_site()
    min_version, below_version = versions or default_version_range()
    parent = Snapshot.objects.exclude(origin=Origin.RECEIVED).values_list("id", flat=True).first()
    snapshot = Snapshot(
        id=snapshot_id,
        parent=parent or "",
        label=label,
        author=author,
        created_at=timezone.now().replace(microsecond=0),
        site_name=site.name if site else "",
        min_version=min_version,
        below_version=below_version,
        content=text,
        origin=origin,
        stored_at=timezone.now(),
    )
    if sign:
        if site is None or not site.key_id:
            raise site_actions.SiteError(
                "This site has no signing key: run `tutela site init` and `tutela site keygen`."
            )
        snapshot.signer = site.key_id
        snapshot.signature = keys.sign(
            site_actions.signing_key(), canonical_json(header_of(snapshot))
        )
    with transaction.atomic():
        snapshot.save(force_insert=True)
        Event.objects.create(
            at=snapshot.stored_at,
            action="snapshot",
            actor=author,
            snapshot_id=snapshot.id,
            details={"origin": origin, "label": label},
        )
        record_event(
            "configuration.snapshot",
            object_type="snapshot",
            object_id=snapshot.id,
            details={"origin": origin, "signed": bool(snapshot.signature)},
            actor_name=author,
        )
    logger.info("Made configuration snapshot %s (%s)", snapshot.id[:12], origin)
    return snapshot, True


def find_snapshot(prefix: str) -> Snapshot:
    """Return the snapshot whose id starts with `prefix` (at least 6 hex digits)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 6:
        raise SnapshotNotFound(f"{prefix!r} is too short: give at least 6 characters of the id.")
    matches = list(Snapshot.objects.filter(id__startswith=prefix)[:2])
    if not matches:
        raise SnapshotNotFound(
            f"No snapshot id starts with {prefix!r}; `tutela config list` shows them."
        )
    if len(matches) > 1:
        raise SnapshotNotFound(f"Several snapshot ids start with {prefix!r}; give more of it.")
    return matches[0]


def bundle_of(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "header": header_of(snapshot),
        "content": json.loads(snapshot.content),
        "signature": snapshot.signature or None,
    }


def bundle_bytes(snapshot: Snapshot) -> bytes:
    return canonical_json(bundle_of(snapshot)) + b"\n"
