"""The record pages' routes, each once for every record type and once more for cases."""

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path

from tutela.web.routes import CASE, case_route_name
from tutela.web.views import attachments, audit, editing, records, searches

ROUTES: list[tuple[str, Callable[..., Any], str]] = [
    ("", records.record_list, "list"),
    ("new", editing.record_new, "new"),
    ("searches/", searches.save_search, "search_save"),
    ("searches/<int:search_id>/open", searches.open_search, "search_open"),
    ("searches/<int:search_id>/delete", searches.delete_search, "search_delete"),
    ("<uuid:record_id>/", records.record_view, "view"),
    ("<uuid:record_id>/history", records.record_history, "history"),
    ("<uuid:record_id>/access-log", audit.record_access_log, "access_log"),
    ("<uuid:record_id>/disabled", records.record_disable, "disable"),
    ("<uuid:record_id>/sections/<slug:section_id>/edit", editing.section_edit, "edit"),
]

urlpatterns: list[URLPattern] = [
    *(
        path(f"records/<slug:record_type>/{route}", view, name=f"record_{name}")
        for route, view, name in ROUTES
    ),
    *(
        path(f"cases/{route}", view, {"record_type": CASE}, name=case_route_name(name))
        for route, view, name in ROUTES
    ),
    path("attachments/<uuid:attachment_id>", attachments.download, name="attachment"),
    path(
        "attachments/<uuid:attachment_id>/thumbnail",
        attachments.thumbnail,
        name="attachment_thumbnail",
    ),
]
