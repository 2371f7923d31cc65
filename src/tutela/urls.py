from django.urls import include, path

from tutela.web.health import health

urlpatterns = [
    path("health", health, name="health"),
    path("api/v1/", include("tutela.api.urls")),
    path("ops/", include("tutela.ops.urls")),
    path("", include("tutela.web.urls")),
]
