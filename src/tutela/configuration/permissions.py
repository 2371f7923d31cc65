"""Who may change the configuration, and whether this site allows local changes at all."""

from typing import Any

from django.conf import settings


def can_manage_configuration(user: Any) -> bool:
    """Whether `user` may see and change forms, lookups and locations.

    NOTE: staff users manage configuration until roles exist; the roles issue replaces this
    check, and every configuration screen asks only this function.
    """
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
    )


def configuration_locked() -> bool:
    """Whether local configuration editing is locked (TUTELA_CONFIGURATION_LOCKED).

    A production site locks it once configuration arrives through promotion from the demo site.
    """
    return bool(getattr(settings, "TUTELA_CONFIGURATION_LOCKED", False))
