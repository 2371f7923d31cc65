"""Template context shared by every page."""

from typing import Any

from django.http import HttpRequest

import tutela
from tutela.access.permissions import can
from tutela.audit.access import may_read_audit_log
from tutela.configuration.permissions import can_manage_configuration


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "tutela_version": tutela.__version__,
        "can_manage_configuration": can_manage_configuration(getattr(request, "user", None)),
        "may_read_audit_log": may_read_audit_log(getattr(request, "user", None)),
        "may_read_users": can(getattr(request, "user", None), "user", "read"),
    }
