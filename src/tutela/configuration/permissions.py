"""Access rules for the configuration: who may change it, and whether this site allows it."""

from typing import Any

from django.conf import settings


def can_manage_configuration(user: Any) -> bool:
    """Return whether `user` may see and change forms, lookups and locations.

    NOTE: staff users manage configuration until roles exist. Roles will replace this check,
    and every configuration screen calls only this function.
    """
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
    )


def configuration_locked() -> bool:
    """Return whether local configuration editing is locked (TUTELA_CONFIGURATION_LOCKED).

    A production site locks it once configuration arrives through promotion from the demo site.
    """
    return bool(getattr(settings, "TUTELA_CONFIGURATION_LOCKED", False))
