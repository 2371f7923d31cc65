"""OpenID Connect sign-in: matching users, and the provider's groups mapped to Tutela roles."""

import logging
from typing import Any

from allauth.socialaccount.models import SocialLogin
from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from tutela.access.models import User
from tutela.audit.log import record_event

logger = logging.getLogger(__name__)


def claims_of(sociallogin: SocialLogin) -> dict[str, Any]:
    """Return the user's claims: the userinfo response, else the ID token's."""
    data = sociallogin.account.extra_data or {}
    claims = data.get("userinfo") or data.get("id_token") or data
    return claims if isinstance(claims, dict) else {}


def username_of(claims: dict[str, Any]) -> str:
    return str(claims.get(settings.TUTELA_OIDC_USERNAME_CLAIM) or "")


def groups_of(claims: dict[str, Any]) -> list[str]:
    groups = claims.get(settings.TUTELA_OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    return [str(group) for group in groups] if isinstance(groups, list) else []


def may_create_users() -> bool:
    return bool(settings.TUTELA_OIDC_CREATE_USERS)


def find_user(claims: dict[str, Any]) -> User | None:
    username = username_of(claims)
    if not username:
        return None
    return User.objects.filter(username__iexact=username, is_active=True).first()


def role_model() -> type[models.Model] | None:
    try:
        return apps.get_model("access", "Role")
    except LookupError:
        return None


@transaction.atomic
def apply_role_mapping(user: Any, claims: dict[str, Any]) -> None:
    """Give the user exactly the mapped roles that their provider groups grant.

    Only roles named in TUTELA_OIDC_ROLE_MAP are managed here: roles granted in Tutela that no
    group maps to are left as they are.
    """
    mapping: dict[str, list[str]] = settings.TUTELA_OIDC_ROLE_MAP
    if not mapping:
        return
    role = role_model()
    if role is None or not hasattr(user, "roles"):
        # NOTE: until tutela.access has roles, the mapping cannot be applied.
        logger.warning("TUTELA_OIDC_ROLE_MAP is set but users have no roles yet; not applied")
        return
    managed = {unique_id for role_ids in mapping.values() for unique_id in role_ids}
    wanted = {unique_id for group in groups_of(claims) for unique_id in mapping.get(group, [])}
    known = set(
        role._default_manager.filter(unique_id__in=managed).values_list("unique_id", flat=True)
    )
    for missing in sorted(managed - known):
        logger.warning("TUTELA_OIDC_ROLE_MAP names role %s, which does not exist", missing)

    current = set(user.roles.filter(unique_id__in=managed).values_list("unique_id", flat=True))
    added, removed = sorted((wanted & known) - current), sorted(current - wanted)
    if not added and not removed:
        return
    user.roles.remove(*role._default_manager.filter(unique_id__in=removed))
    user.roles.add(*role._default_manager.filter(unique_id__in=added))
    record_event(
        "user.roles_from_provider",
        object_type="user",
        object_id=user.pk,
        details={"added": added, "removed": removed},
    )
