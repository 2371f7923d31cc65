"""Checking a received bundle and storing it as pending, or rejecting it with the reason.

A rejected bundle changes no configuration: only its Bundle row (status rejected, the reason
code and sentence, the SHA-256 of the bytes), a history event and an audit entry are written.
"""

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from tutela.audit.log import record_event
from tutela.audit.models import Outcome
from tutela.configuration import schema
from tutela.lib.canonical import canonical_json
from tutela.promotion import content as snapshot_content
from tutela.promotion.models import Bundle, BundleStatus, Event, Origin, Snapshot
from tutela.promotion.snapshots import BUNDLE_FORMAT, parse_version, version_fits
from tutela.sites import keys
from tutela.sites.models import PromotionLink, TrustedSigner

logger = logging.getLogger(__name__)

# The largest bundle accepted, in bytes. A Primero-sized configuration is about 1 MB.
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HEADER_KEYS = frozenset(
    {"format", "id", "parent", "label", "author", "created_at", "site", "tutela_versions", "signer"}
)


class Rejection(Exception):
    """A bundle is rejected. `code` is stable: malformed, truncated, unsigned, unknown_signer,
    bad_signature, hash_mismatch, version_incompatible, invalid_configuration, too_large."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Verified:
    header: dict[str, Any]
    content: dict[str, Any]
    signer: TrustedSigner
    signature: str


def verify_bundle(raw: bytes, link: PromotionLink | None = None) -> Verified:
    """Check every part of a bundle; raise Rejection with the first problem found.

    With `link`, the bundle must be signed by that link's signer.
    """
    bundle = _parse(raw)
    header, content, signature = bundle["header"], bundle["content"], bundle["signature"]

    if not signature:
        raise Rejection("unsigned", "The bundle has no signature; sign it on the demo site.")
    signer = TrustedSigner.objects.filter(key_id=header["signer"], revoked=False).first()
    if signer is None:
        raise Rejection(
            "unknown_signer",
            f"The bundle is signed by the key {str(header['signer'])[:16]!r}, which this site "
            "does not trust. Register the demo site's public key with `tutela site trust`.",
        )
    if link is not None and link.signer_id != signer.pk:
        raise Rejection(
            "unknown_signer",
            f"The bundle is signed by {signer.name}, but the promotion link {link.name} "
            f"belongs to {link.signer.name}.",
        )
    if not isinstance(signature, str) or not keys.verify(
        signer.public_key, signature, canonical_json(header)
    ):
        raise Rejection(
            "bad_signature",
            f"The signature does not match the header for the key of {signer.name}; the bundle "
            "was changed after signing, or signed with another key.",
        )
    actual = snapshot_content.content_id(content)
    if actual != header["id"]:
        raise Rejection(
            "hash_mismatch",
            f"The content's SHA-256 is {actual[:16]}..., not the signed id "
            f"{str(header['id'])[:16]}...; the content was changed after signing.",
        )
    _check_versions(header)
    problems = schema.check_document(content.get("configuration"))
    if problems:
        first = problems[0]
        raise Rejection(
            "invalid_configuration",
            f"The configuration has {len(problems)} problem(s), first {first.path}: "
            f"{first.message}",
        )
    return Verified(header, content, signer, signature)


def _parse(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BUNDLE_BYTES:
        raise Rejection(
            "too_large",
            f"The bundle has {len(raw):,} bytes; at most {MAX_BUNDLE_BYTES:,} are accepted.",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejection("malformed", f"The bundle is not UTF-8 text (byte {e.start}).") from None
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as e:
        if ends_early(text, e):
            raise Rejection(
                "truncated",
                f"The bundle ends early, after {len(raw):,} bytes: it was cut off in transfer. "
                "Send or copy it again.",
            ) from None
        raise Rejection(
            "malformed", f"The bundle is not valid JSON: {e.msg} at character {e.pos}."
        ) from None
    if not isinstance(bundle, dict) or not {"header", "content", "signature"} <= set(bundle):
        raise Rejection("malformed", "The bundle needs header, content and signature.")
    header, content = bundle["header"], bundle["content"]
    if not isinstance(header, dict) or set(header) != HEADER_KEYS:
        raise Rejection("malformed", f"The header needs exactly: {', '.join(sorted(HEADER_KEYS))}.")
    if header["format"] != BUNDLE_FORMAT:
        raise Rejection("malformed", f"The format {header['format']!r} is not {BUNDLE_FORMAT!r}.")
    _check_header_values(header)
    if not isinstance(content, dict) or content.get("format") != snapshot_content.FORMAT:
        raise Rejection("malformed", f"The content is not a {snapshot_content.FORMAT} document.")
    missing = [
        key for key in snapshot_content.SECTIONS if not isinstance(content.get(key), (dict, list))
    ]
    if missing:
        raise Rejection("malformed", f"The content lacks {', '.join(missing)}.")
    return bundle


def _check_header_values(header: dict[str, Any]) -> None:
    for key in ("id", "parent"):
        value = header[key]
        if key == "parent" and value is None:
            continue
        if not isinstance(value, str) or not SHA256_HEX.match(value):
            raise Rejection("malformed", f"The header's {key} is not a SHA-256 in hexadecimal.")
    for key in ("label", "author", "site", "signer"):
        if not isinstance(header[key], str):
            raise Rejection("malformed", f"The header's {key} is not text.")
    try:
        created_at = dt.datetime.fromisoformat(str(header["created_at"]))
    except ValueError:
        created_at = None
    if created_at is None or created_at.tzinfo is None:
        raise Rejection("malformed", "The header's created_at is not an ISO 8601 time with zone.")


# The characters left of a number cut off in transfer: a sign, a point or an exponent.
NUMBER_END = re.compile(r"[-+.eE]+")


def ends_early(text: str, error: json.JSONDecodeError) -> bool:
    """Return whether JSON text is valid up to where it stops, so it was cut off in transfer.

    Text that goes wrong before its end (`not json {`) is malformed, not cut off.
    """
    if not text.strip():
        return False
    # The decoder reports an unclosed string at its opening quote: the string runs to the end.
    if error.msg.startswith("Unterminated string"):
        return True
    rest = text[error.pos :].rstrip()
    # A cut inside true, false, null or a number (`12.`) is reported before the cut part.
    if rest and any(word.startswith(rest) and word != rest for word in ("true", "false", "null")):
        return True
    if NUMBER_END.fullmatch(rest):
        return True
    return error.pos >= len(text.rstrip())


def _check_versions(header: dict[str, Any]) -> None:
    versions = header["tutela_versions"]
    try:
        low, below = str(versions["min"]), str(versions["below"])
        parse_version(low)
        parse_version(below)
    except (KeyError, TypeError, ValueError):
        raise Rejection(
            "malformed", f"tutela_versions {versions!r} is not a version range."
        ) from None
    if not version_fits(low, below):
        import tutela

        raise Rejection(
            "version_incompatible",
            f"The snapshot fits Tutela {low} up to (not including) {below}; this site runs "
            f"{tutela.__version__}. Upgrade one of the sites, or snapshot again.",
        )


def receive_bundle(
    raw: bytes, channel: str, *, link: PromotionLink | None = None, actor: str = ""
) -> Bundle:
    """Store a bundle as received (pending), or as rejected with its reason."""
    now = timezone.now()
    bundle = Bundle(
        direction="received",
        channel=channel,
        link_name=link.name if link else "",
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        created_at=now,
        updated_at=now,
    )
    try:
        verified = verify_bundle(raw, link)
    except Rejection as rejection:
        _store_rejection(bundle, rejection, actor)
        return bundle

    with transaction.atomic():
        snapshot = _store_snapshot(verified, now)
        bundle.snapshot = snapshot
        bundle.status = BundleStatus.RECEIVED
        bundle.save()
        Event.objects.create(
            at=now,
            action="received",
            actor=actor or verified.signer.name,
            bundle=bundle,
            snapshot_id=snapshot.id,
            details={"channel": channel, "signer": verified.signer.key_id},
        )
        record_event(
            "promotion.receive",
            object_type="bundle",
            object_id=bundle.pk,
            details={"snapshot": snapshot.id, "signer": verified.signer.key_id, "channel": channel},
            actor_name=actor or verified.signer.name,
        )
    logger.info("Received configuration snapshot %s as bundle %s", snapshot.id[:12], bundle.pk)
    return bundle


def _store_snapshot(verified: Verified, now: dt.datetime) -> Snapshot:
    header = verified.header
    existing = Snapshot.objects.filter(pk=header["id"]).first()
    if existing is not None:
        return existing
    return Snapshot.objects.create(
        id=header["id"],
        parent=header["parent"] or "",
        label=str(header["label"])[:200],
        author=str(header["author"])[:150],
        created_at=dt.datetime.fromisoformat(header["created_at"]),
        site_name=str(header["site"])[:100],
        min_version=header["tutela_versions"]["min"],
        below_version=header["tutela_versions"]["below"],
        signer=verified.signer.key_id,
        signature=verified.signature,
        content=canonical_json(verified.content).decode("utf-8"),
        origin=Origin.RECEIVED,
        stored_at=now,
    )


def _store_rejection(bundle: Bundle, rejection: Rejection, actor: str) -> None:
    bundle.status = BundleStatus.REJECTED
    bundle.reason_code = rejection.code
    bundle.reason = rejection.message
    with transaction.atomic():
        bundle.save()
        Event.objects.create(
            at=bundle.created_at,
            action="rejected",
            actor=actor or bundle.channel,
            bundle=bundle,
            details={"reason": rejection.code},
        )
        record_event(
            "promotion.reject",
            object_type="bundle",
            object_id=bundle.pk,
            outcome=Outcome.FAILURE,
            details={"reason": rejection.code, "sha256": bundle.sha256, "size": bundle.size},
            actor_name=actor or bundle.channel,
        )
    logger.warning("Rejected bundle %s (%s): %s", bundle.pk, rejection.code, rejection.message)
