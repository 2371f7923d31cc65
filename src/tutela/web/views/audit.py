"""The audit screens: the searchable audit log, its export, and a record's access log."""

import uuid
from typing import cast

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tutela.audit.access import may_read_audit_log
from tutela.audit.log import record_event
from tutela.audit.models import Outcome
from tutela.audit.search import (
    export_lines,
    filtered_entries,
    keyset_page,
    parse_filters,
    record_entries,
)
from tutela.records.models import Record
from tutela.web.decorators import signed_in
from tutela.web.kinds import Kind, form_of
from tutela.web.views.records import viewable_record


def forbidden(request: HttpRequest) -> HttpResponse:
    record_event(
        "audit.read",
        user=request.user,
        object_type="audit_log",
        outcome=Outcome.DENIED,
        details={"path": request.path},
    )
    return render(request, "web/audit/forbidden.html", status=403)


@require_GET
@signed_in
def audit_log(request: HttpRequest) -> HttpResponse:
    """List audit entries newest first, filtered, 50 a page, paged by entry id."""
    if not may_read_audit_log(request.user):
        return forbidden(request)
    filters = parse_filters(request.GET)
    before = request.GET.get("before", "")
    page = None
    if not filters.errors:
        # The first page only: paging through the same search is one search.
        if not before:
            record_event(
                "audit.search",
                user=request.user,
                object_type="audit_log",
                details={"filters": filters.used()},
            )
        page = keyset_page(filtered_entries(filters), before)
    return render(
        request,
        "web/audit/log.html",
        {
            "filters": filters,
            "used": filters.used(),
            "page": page,
            "outcomes": Outcome.choices,
        },
        status=400 if filters.errors else 200,
    )


@require_POST
@signed_in
def audit_export(request: HttpRequest) -> HttpResponse:
    """Send the entries that match the posted filters as JSON lines, oldest first."""
    if not may_read_audit_log(request.user):
        return forbidden(request)
    filters = parse_filters(request.POST)
    if filters.errors:
        return render(
            request,
            "web/audit/log.html",
            {"filters": filters, "used": filters.used(), "outcomes": Outcome.choices},
            status=400,
        )
    # Written before the first line is sent, so an export is audited even if the download
    # is cut short.
    record_event(
        "audit.export",
        user=request.user,
        object_type="audit_log",
        details={"filters": filters.used()},
    )
    response = StreamingHttpResponse(
        export_lines(filtered_entries(filters)), content_type="application/x-ndjson"
    )
    name = f"tutela-audit-{timezone.now():%Y%m%d-%H%M%S}.jsonl"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # `signed_in` is typed for HttpResponse; Django's middleware handles streaming responses.
    return cast(HttpResponse, response)


@require_GET
@signed_in
def record_access_log(request: HttpRequest, record_type: str, record_id: uuid.UUID) -> HttpResponse:
    """List who viewed, changed, uploaded or downloaded what on one record, newest first.

    An auditor whose role sees no record, and anyone reading the log of a purged record, gets
    the entries without the record's name and facts: entries hold ids only.
    """
    try:
        record: Record | None = viewable_record(request, record_type, record_id)
    except Http404:
        record = None
    if not may_read_audit_log(request.user):
        if record is None:
            raise Http404  # the same response as for any record out of scope
        return forbidden(request)
    before = request.GET.get("before", "")
    if not before:
        record_event(
            f"{record_type}.access_log_view",
            user=request.user,
            object_type=record_type,
            object_id=record_id,
        )
    page = keyset_page(record_entries(record_type, record_id), before)
    return render(
        request,
        "web/audit/record.html",
        {
            "kind": Kind(form_of(record_type).record_type),
            "record": record,
            "record_id": record_id,
            "page": page,
        },
    )
