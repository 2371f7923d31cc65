from django.urls import include, path
from django.views.generic import RedirectView

from tutela.promotion.api import PromotionView
from tutela.web import pwa
from tutela.web.health import health

urlpatterns = [
    path("health", health, name="health"),
    # The installable web app. The service worker is served from the root so that its scope
    # covers every page.
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("service-worker.js", pwa.service_worker, name="service_worker"),
    path("offline/<slug:language>/", pwa.offline, name="offline"),
    # Before the API's catch-all: a production site receives promotions from the demo site.
    path("api/v1/promotions", PromotionView.as_view(), name="promotions"),
    path("api/v1/", include("tutela.api.urls")),
    path("promotion/", include("tutela.promotion.urls")),
    path("ops/", include("tutela.ops.urls")),
    # allauth: the MFA pages, the second sign-in step, reauthentication and single sign-on.
    # Tutela's own sign-in page is /sign-in/; its set-password links replace allauth's
    # password reset.
    path("accounts/password/reset/", RedirectView.as_view(pattern_name="signin:forgot_password")),
    path("accounts/", include("allauth.urls")),
    path("", include("tutela.signin.urls")),
    path("", include("tutela.web.urls")),
]
