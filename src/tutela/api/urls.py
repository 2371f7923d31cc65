from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tutela.api import views

app_name = "api"

record = "records/<slug:record_type>/<uuid:record_id>"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start script from ?script, as a file, for the Content Security
    # Policy, which blocks inline scripts; the template drops the page's inline style.
    path(
        "docs",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    path("records/<slug:record_type>/", views.RecordListView.as_view(), name="records"),
    path("records/<slug:record_type>/search", views.RecordSearchView.as_view(), name="search"),
    path(
        "records/<slug:record_type>/duplicates",
        views.DuplicateCheckView.as_view(),
        name="duplicates",
    ),
    path(record, views.RecordDetailView.as_view(), name="record"),
    path(f"{record}/history", views.RecordHistoryView.as_view(), name="history"),
    path(f"{record}/referrals", views.RecordReferralView.as_view(), name="referrals"),
    path(
        f"{record}/close",
        views.RecordStateView.as_view(change="close"),
        name="close",
    ),
    path(f"{record}/reopen", views.RecordStateView.as_view(change="reopen"), name="reopen"),
    path(f"{record}/disable", views.RecordStateView.as_view(change="disable"), name="disable"),
    path(f"{record}/enable", views.RecordStateView.as_view(change="enable"), name="enable"),
    path("configuration/record-types", views.RecordTypeListView.as_view(), name="record-types"),
    path(
        "configuration/record-types/<slug:record_type>",
        views.RecordTypeDetailView.as_view(),
        name="record-type",
    ),
    path("configuration/lookups", views.LookupListView.as_view(), name="lookups"),
    path("configuration/locations", views.LocationListView.as_view(), name="locations"),
    # Last: any other address under /api/v1/ gets a JSON 404.
    re_path(r"^(?P<path>.*)$", views.api_not_found),
]
