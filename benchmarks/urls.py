"""Tutela's pages plus the benchmark floor endpoints under /bench/."""

from django.urls import include, path

from benchmarks import views

bench = [
    path("empty", views.empty),
    path("sql/open/<uuid:record_id>", views.sql_open),
    path("sql/list/<int:user_id>", views.sql_list),
    path("sql/search", views.sql_search),
    path("sql/name", views.sql_name),
    path("sql/save/<uuid:record_id>", views.sql_save),
    path("django/open/<uuid:record_id>", views.django_open),
    path("django/list/<int:user_id>", views.django_list),
    path("django/search", views.django_search),
    path("django/name", views.django_name),
    path("django/save/<uuid:record_id>", views.django_save),
]

urlpatterns = [
    path("bench/", include(bench)),
    path("", include("tutela.urls")),
]
