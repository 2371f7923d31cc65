"""Access rules for the configuration: who may change it, and whether this site allows it."""

from typing import Any

from django.conf import settings

from tutela.access.permissions import can


def can_manage_configuration(user: Any) -> bool:
    """Return whether `user` may see and change forms, lookups and locations: their role
    allows writing the configuration. Every configuration screen calls only this function."""
    return can(user, "configuration", "write")


def configuration_locked() -> bool:
    """Return whether local configuration editing is locked on this site.

    It is locked by TUTELA_CONFIGURATION_LOCKED, or by the site's drift control set to "lock"
    (`tutela site init --drift-control lock`), once configuration arrives through promotion.
    """
    from tutela.sites.actions import current_site

    if getattr(settings, "TUTELA_CONFIGURATION_LOCKED", False):
        return True
    site = current_site()
    return site is not None and site.drift_control == "lock"
