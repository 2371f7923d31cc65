"""The permission check for the audit screens."""

from typing import Any


def may_read_audit_log(user: Any) -> bool:
    """Return whether `user` may open the audit screens: staff, or a role that reads the log."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    try:
        from tutela.access.permissions import can
    except ImportError:
        # TODO: import at the top once roles (tutela.access.permissions) are committed.
        return False
    return can(user, "audit_log", "read")
