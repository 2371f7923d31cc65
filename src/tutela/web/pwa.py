"""The installable web app: its manifest, its service worker and the page shown offline.

The service worker keeps the app shell (style sheet, scripts) so pages load fast on slow links,
and shows the offline page when the server cannot be reached. It never stores a page: pages
show case data, which must not stay on a phone that may be lost or shared.
"""

import hashlib
import json
from functools import cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

import tutela

# The static files that base.html loads: the shell the service worker caches at install.
SHELL_FILES = ("web/tutela.css", "web/tutela.js", "web/htmx-2.0.11.min.js")
# The top bar's colour (--ink in tutela.css) and the page background (--wash).
THEME_COLOUR = "#1d2330"
BACKGROUND_COLOUR = "#f3f5f8"
ICONS = (
    ("web/icons/icon-192.png", "192x192", "any"),
    ("web/icons/icon-512.png", "512x512", "any"),
    ("web/icons/icon-maskable-512.png", "512x512", "maskable"),
)


def shell_digest() -> str:
    """Return a short hash of Tutela's version and the shell files' contents."""
    digest = hashlib.sha256(tutela.__version__.encode())
    for name in SHELL_FILES:
        path = finders.find(name)
        if not isinstance(path, str):
            raise FileNotFoundError(f"The app shell file {name} is missing from the static files.")
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


@cache
def cached_shell_digest() -> str:
    return shell_digest()


def cache_version() -> str:
    """Return the version that names the service worker's caches.

    A new version makes browsers install the new worker, which drops the old caches. In debug
    mode the static files change without a restart, so the digest is computed on every request.
    """
    return shell_digest() if settings.DEBUG else cached_shell_digest()


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    """Serve the web app manifest, in the request's language."""
    language = translation.get_language()
    document = {
        "id": "/",
        "name": "Tutela",
        "short_name": "Tutela",
        "description": _("Child protection case management"),
        "lang": language,
        "dir": "rtl" if translation.get_language_bidi() else "ltr",
        "start_url": reverse("web:home"),
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": static(path), "sizes": sizes, "type": "image/png", "purpose": purpose}
            for path, sizes, purpose in ICONS
        ],
    }
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponseBase:
    """Serve the service worker script from the site root, so that its scope is the whole site."""
    languages = [code for code, _name in settings.LANGUAGES]
    config = {
        "version": cache_version(),
        "shell": [static(name) for name in SHELL_FILES],
        "shellPrefix": static("web/"),
        "offlinePages": {code: reverse("offline", args=[code]) for code in languages},
        "defaultLanguage": settings.LANGUAGE_CODE,
    }
    script = render_to_string("web/service-worker.js", {"config": json.dumps(config)})
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Browsers check for a new version as pages open: they always ask, and an unchanged
    # script costs a 304 answer with no body.
    response["Cache-Control"] = "no-cache"
    return with_etag(request, response)


def with_etag(request: HttpRequest, response: HttpResponse) -> HttpResponseBase:
    """Give the response an ETag of its content, and answer 304 when the browser has it."""
    etag = f'"{hashlib.sha256(response.content).hexdigest()[:20]}"'
    response["ETag"] = etag
    return get_conditional_response(request, etag=etag, response=response) or response


@require_GET
def offline(request: HttpRequest, language: str) -> HttpResponse:
    """Serve the page the service worker shows when the server cannot be reached.

    It is rendered without the request: no user name, no CSRF token and no case data, so the
    service worker may keep it.
    """
    if language not in dict(settings.LANGUAGES):
        raise Http404
    with translation.override(language):
        html = render_to_string("web/offline.html")
    response = HttpResponse(html)
    response["Content-Language"] = language
    return response
