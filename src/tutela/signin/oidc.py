"""OpenID Connect sign-in: matching users, and the provider's groups mapped to Tutela roles."""

import logging
from typing import Any

from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.db import transaction

from tutela.access.models import Role, User
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


@transaction.atomic
def apply_role_mapping(user: User, claims: dict[str, Any]) -> None:
    """Give the user the role that their provider groups map to, at every sign-in.

    The first group of TUTELA_OIDC_ROLE_MAP, in the mapping's order, that the user belongs to
    decides the role. A user in no mapped group loses a role that the mapping manages, and
    keeps a role that was given in Tutela and that no group maps to.
    """
    mapping: dict[str, str] = settings.TUTELA_OIDC_ROLE_MAP
    if not mapping:
        return
    groups = set(groups_of(claims))
    mapped_id = next((role_id for group, role_id in mapping.items() if group in groups), None)
    old = user.role.unique_id if user.role else None
    if mapped_id is None and old not in mapping.values():
        return
    role = Role.objects.filter(unique_id=mapped_id, disabled=False).first() if mapped_id else None
    if mapped_id is not None and role is None:
        logger.warning(
            "TUTELA_OIDC_ROLE_MAP names role %s, which is missing or disabled", mapped_id
        )
        return
    if old == mapped_id:
        return
    User.objects.filter(pk=user.pk).update(role=role)
    user.role = role
    record_event(
        "user.role_change",
        actor_name="identity provider",
        object_type="user",
        object_id=user.pk,
        details={"old": old, "new": mapped_id, "source": "oidc"},
    )
