"""The permission check for the audit screens."""

from typing import Any

from tutela.access.permissions import can


def may_read_audit_log(user: Any) -> bool:
    """Return whether `user` may open the audit screens: staff, or a role that reads the log."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff) or can(user, "audit_log", "read")
