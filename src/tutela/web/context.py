"""Template context shared by every page."""

from typing import Any

from django.http import HttpRequest

import tutela


def site(request: HttpRequest) -> dict[str, Any]:
    return {"tutela_version": tutela.__version__}
