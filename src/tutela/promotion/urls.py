from django.urls import path

from tutela.promotion import views

app_name = "promotion"

urlpatterns = [
    path("", views.history, name="history"),
    path("snapshots/<str:snapshot_id>/plan", views.plan_snapshot, name="plan_snapshot"),
    path("plans/<int:plan_id>/", views.plan_view, name="plan"),
    path("plans/<int:plan_id>/approve", views.approve, name="approve"),
    path("plans/<int:plan_id>/apply", views.apply, name="apply"),
]
