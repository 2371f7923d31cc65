"""Template context: the site's role and name, shown on every page."""

from typing import Any

from django.http import HttpRequest

from tutela.sites.actions import current_site, site_role


def site_role_context(request: HttpRequest) -> dict[str, Any]:
    site = current_site()
    return {"site_role": site_role(), "site_name": site.name if site else ""}
