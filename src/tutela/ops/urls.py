from django.urls import path

from tutela.ops import views

app_name = "ops"

urlpatterns = [
    path("backups/", views.backups, name="backups"),
]
