"""The page for a form post that failed the CSRF check."""

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Render a translated 403 page with a link back to the page that sent the form.

    The usual cause is a form left open while the session changed in another tab. Django's CSRF
    middleware has already logged the reason.
    """
    context = {"back": same_site_referer_path(request)}
    return render(request, "web/csrf_failure.html", context, status=403)


def same_site_referer_path(request: HttpRequest) -> str:
    """Return the Referer's path when it is on this site, else the home page's address."""
    referer = request.headers.get("Referer", "")
    allowed = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    path = urlsplit(referer).path
    # Only the path goes into the link, never the query or anything else the sender chose.
    if allowed and path.startswith("/") and not path.startswith("//"):
        return path
    return reverse("web:home")
