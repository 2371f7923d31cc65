from django.urls import include, path

from tutela.web import pwa
from tutela.web.health import health

urlpatterns = [
    path("health", health, name="health"),
    # The installable web app. The service worker is served from the root so that its scope
    # covers every page.
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("service-worker.js", pwa.service_worker, name="service_worker"),
    path("offline/<slug:language>/", pwa.offline, name="offline"),
    path("api/v1/", include("tutela.api.urls")),
    path("ops/", include("tutela.ops.urls")),
    path("", include("tutela.web.urls")),
]
