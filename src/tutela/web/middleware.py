"""Request middleware for the web pages."""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

COMPRESSED_TYPES = {
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/manifest+json",
    "image/svg+xml",
}


class UserTimezoneMiddleware:
    """Show times in the signed-in user's time zone; storage stays in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        zone_name = getattr(user, "time_zone", None) if user and user.is_authenticated else None
        if zone_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class PrivatePagesMiddleware:
    """Keep the pages a signed-in user sees out of the browser's caches.

    Pages show children's case data. `no-store` keeps them out of the HTTP cache and the
    back-forward cache of a phone that may be lost or shared, and out of shared proxies.
    Static files are served before this middleware runs, so they stay cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        html = response.get("Content-Type", "").startswith("text/html")
        if html and user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class CompressPagesMiddleware(GZipMiddleware):
    """Compress pages, scripts and the manifest with gzip, and nothing else.

    Photos and other uploads are compressed already. JSON is left alone because the API's
    ETags carry record versions: compressing would weaken them (`W/"3"`), and a weak ETag never
    matches If-Match.

    BREACH (guessing a secret in a compressed page from its size) needs a secret in the page
    and text the attacker chooses reflected beside it, over many requests sent with the
    victim's cookies. Here Django masks the CSRF token differently in every response, this
    middleware pads each response with up to 100 random bytes ("Heal the BREACH"), the session
    cookie is SameSite=Lax so that other sites' requests carry no session, and searches are
    sent by POST and kept in the session, never reflected from the address.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if content_type not in COMPRESSED_TYPES:
            return response
        return super().process_response(request, response)
