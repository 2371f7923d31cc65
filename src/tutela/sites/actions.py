"""Site actions: initialise the role, write the signing key, trust demo sites, create links.

Each action that changes state writes its audit entry in the same transaction.
"""

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tutela.audit.log import record_event
from tutela.sites import keys
from tutela.sites.models import DriftControl, PromotionLink, Role, Site, TrustedSigner

logger = logging.getLogger(__name__)

# The secrets file key (and `SITE_SIGNING_KEY_FILE` variable) of the private signing key.
SIGNING_KEY_SECRET = "site_signing_key"  # noqa: S105 (a key name, not a key)
TOKEN_PREFIX = "tpl_"  # noqa: S105 (the public prefix of every token)
# The site row, read once per process: page renders must not add a query. `site init`,
# `drift-control` and `keygen` run in another process, so running web servers use a change
# after a restart.
_cache: tuple[Site | None] | None = None


class SiteError(Exception):
    """A site action cannot run; the message states why and what to do next."""


def current_site() -> Site | None:
    """Return this site's row (read once per process), or None before `site init`."""
    global _cache
    if _cache is None:
        _cache = (Site.objects.filter(pk=1).first(),)
    return _cache[0]


def clear_site_cache() -> None:
    """Forget the site row, so that the next `current_site()` reads it again."""
    global _cache
    _cache = None


def forget_site_row() -> None:
    """Remember that no site row exists, without reading the database (for tests)."""
    global _cache
    _cache = (None,)


def site_role() -> str:
    """Return "demo" or "production": the stored role, else the TUTELA_SITE_ROLE setting."""
    site = current_site()
    return site.role if site else str(settings.TUTELA_SITE_ROLE)


def is_initialized_production() -> bool:
    """Return whether `tutela site init --role production` has run on this site."""
    site = current_site()
    return site is not None and site.role == Role.PRODUCTION


def require_demo(what: str) -> None:
    if site_role() != Role.DEMO:
        raise SiteError(
            f"{what} runs on a demo site only; this site's role is {site_role()}. "
            "A production site never sends or replaces its records."
        )


def init_site(role: str, name: str, drift_control: str | None = None) -> Site:
    """Store the site's role and name. The role of an initialised site cannot change."""
    if role not in Role.values:
        raise SiteError(f"{role!r} is not a site role; use demo or production.")
    if drift_control is not None and drift_control not in DriftControl.values:
        raise SiteError(f"{drift_control!r} is not a drift control; use lock or report.")
    with transaction.atomic():
        site = Site.objects.select_for_update().filter(pk=1).first()
        if site is not None and site.role != role:
            raise SiteError(
                f"This site is already initialised as {site.role}; a site's role never "
                "changes. Install a new site for the other role."
            )
        if site is None:
            site = Site(pk=1, role=role, initialized_at=timezone.now())
        site.name = name
        if drift_control is not None:
            site.drift_control = drift_control
        site.save()
        record_event(
            "site.init",
            object_type="site",
            object_id=name,
            details={"role": role, "drift_control": site.drift_control},
            actor_name="tutela site init",
        )
    clear_site_cache()
    logger.info("Initialised site %s as %s", name, role)
    return site


def set_drift_control(value: str) -> Site:
    site = _require_site()
    if value not in DriftControl.values:
        raise SiteError(f"{value!r} is not a drift control; use lock or report.")
    with transaction.atomic():
        site.drift_control = value
        site.save(update_fields=["drift_control"])
        record_event(
            "site.drift_control",
            object_type="site",
            object_id=site.name,
            details={"drift_control": value},
            actor_name="tutela site drift-control",
        )
    clear_site_cache()
    return site


def _require_site() -> Site:
    site = Site.objects.filter(pk=1).first()
    if site is None:
        raise SiteError(
            "The site is not initialised: run `tutela site init --role ... --name ...`."
        )
    return site


def secrets_file_path(explicit: Path | None) -> Path:
    path = explicit or (
        Path(os.environ["TUTELA_SECRETS_FILE"]) if os.environ.get("TUTELA_SECRETS_FILE") else None
    )
    if path is None:
        raise SiteError(
            "No secrets file: set TUTELA_SECRETS_FILE or pass --secrets-file PATH "
            "(a TOML file that only Tutela's user may read)."
        )
    return path


def keygen(secrets_file: Path | None = None) -> tuple[str, str]:
    """Write a new Ed25519 key pair: the private key into the secrets file, the public key here.

    Return (key id, public key). The secrets file is created with mode 600 when missing, and
    an existing signing key is never overwritten.
    """
    site = _require_site()
    path = secrets_file_path(secrets_file)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if path.exists() and path.stat().st_mode & 0o077:
        raise SiteError(
            f"The secrets file {path} is readable by other users: run `chmod 600 {path}`."
        )
    if any(line.split("=")[0].strip() == SIGNING_KEY_SECRET for line in existing.splitlines()):
        raise SiteError(
            f"{path} already has a {SIGNING_KEY_SECRET}. Remove that line first to replace "
            "the key; sites that trust the old key must then trust the new one."
        )

    private_key, public_key = keys.generate()
    if not path.exists():
        path.touch(mode=0o600)
    separator = "" if not existing or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(f'{separator}{SIGNING_KEY_SECRET} = "{private_key}"\n')

    with transaction.atomic():
        site.public_key = public_key
        site.key_id = keys.key_id(public_key)
        site.save(update_fields=["public_key", "key_id"])
        record_event(
            "site.keygen",
            object_type="site",
            object_id=site.name,
            details={"key_id": site.key_id},
            actor_name="tutela site keygen",
        )
    clear_site_cache()
    return site.key_id, public_key


def signing_key() -> str:
    """Return this site's private signing key from SITE_SIGNING_KEY_FILE or the secrets file."""
    from tutela.settings import load_secrets

    file_variable = os.environ.get("SITE_SIGNING_KEY_FILE")
    if file_variable:
        return Path(file_variable).read_text(encoding="utf-8").strip()
    value = load_secrets().get(SIGNING_KEY_SECRET)
    if not value:
        raise SiteError(
            "This site has no signing key: run `tutela site keygen`, which writes "
            f"{SIGNING_KEY_SECRET} into the secrets file (TUTELA_SECRETS_FILE)."
        )
    return str(value)


def trust_signer(name: str, public_key: str) -> TrustedSigner:
    """Register a demo site's public key, so that its signed snapshots are accepted."""
    try:
        key_id = keys.key_id(public_key)
        keys.load_public(public_key)
    except keys.KeyInvalid as e:
        raise SiteError(f"{e} Copy the public key that `tutela site keygen` printed.") from None
    with transaction.atomic():
        if TrustedSigner.objects.filter(key_id=key_id).exists():
            raise SiteError(f"The key {key_id} is already trusted.")
        signer = TrustedSigner.objects.create(
            name=name, key_id=key_id, public_key=public_key.strip(), added_at=timezone.now()
        )
        record_event(
            "site.trust",
            object_type="trusted_signer",
            object_id=key_id,
            details={"name": name},
            actor_name="tutela site trust",
        )
    return signer


def create_link(name: str, signer_key_id: str) -> tuple[PromotionLink, str]:
    """Create a promotion link for a trusted signer; return it with its token (shown once)."""
    signer = TrustedSigner.objects.filter(key_id=signer_key_id, revoked=False).first()
    if signer is None:
        raise SiteError(
            f"No trusted signer has the key id {signer_key_id!r}: run `tutela site trust` first."
        )
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        link = PromotionLink.objects.create(
            name=name,
            signer=signer,
            prefix=prefix,
            token_hash=_hash(token),
            created_at=timezone.now(),
        )
        record_event(
            "site.link_create",
            object_type="promotion_link",
            object_id=name,
            details={"signer": signer.key_id, "prefix": prefix},
            actor_name="tutela site link",
        )
    return link, token


def revoke_link(name: str) -> None:
    with transaction.atomic():
        updated = PromotionLink.objects.filter(name=name, revoked=False).update(revoked=True)
        if not updated:
            raise SiteError(f"No active promotion link is named {name!r}.")
        record_event(
            "site.link_revoke",
            object_type="promotion_link",
            object_id=name,
            actor_name="tutela site link",
        )


def check_link_token(token: str) -> PromotionLink | None:
    """Return the active link whose token this is, or None. Compares hashes in constant time."""
    parts = token.split("_")
    if len(parts) < 3 or not token.startswith(TOKEN_PREFIX):
        return None
    link = (
        PromotionLink.objects.select_related("signer")
        .filter(prefix=parts[1], revoked=False, signer__revoked=False)
        .first()
    )
    if link is None or not hmac.compare_digest(link.token_hash, _hash(token)):
        return None
    PromotionLink.objects.filter(pk=link.pk).update(last_used_at=timezone.now())
    return link


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
