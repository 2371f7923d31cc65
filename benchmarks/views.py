"""Floor endpoints for the benchmark: the work of each measured page, with less around it.

For each operation there are two floors beside the real page:

- `sql/...` fetches the same rows with one hand-written SQL statement (a save writes with two)
  and returns them as JSON: the cost of the database work and of HTTP, routing and middleware;
- `django/...` makes the same calls of tutela.records.search and tutela.records.actions that
  the page makes and returns JSON: the page without sign-in, permissions and templates.

`empty` returns a constant, the cost of HTTP, gunicorn and Django's middleware alone. None of
these endpoints checks who is asking: they exist only on the benchmark server.
"""

import json
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tutela.configuration.forms import get_form
from tutela.lib import names
from tutela.records.actions import update_record
from tutela.records.derived import fold_for_search
from tutela.records.models import Record
from tutela.records.search import FUZZY_CANDIDATES, Criteria, find_by_name, search

RECORD_TYPE = "case"
PAGE_SIZE = 25
# The field the save benchmark changes: a free-text field of the consent section.
SAVED_FIELD = "consent_sharing_limits"


def json_response(payload: Any) -> HttpResponse:
    return HttpResponse(json.dumps(payload, default=str), content_type="application/json")


def rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def record_type_id() -> int:
    return get_form(RECORD_TYPE).record_type.pk


def list_columns_sql() -> str:
    """Select the columns a case list row shows: ids, status, update time, list fields."""
    fields = [f.name for f in get_form(RECORD_TYPE).list_fields()]
    # Field names match ^[a-z][a-z0-9_]*$ (the configuration format), so they are safe here.
    values = ", ".join(f"data->'{name}' AS {name}" for name in fields)
    return f"id, short_id, status, updated_at, {values}"


@require_GET
def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


# Raw SQL floors.


@require_GET
def sql_open(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    found = rows(
        "SELECT r.id, r.short_id, r.status, r.version, r.updated_at, r.data::text AS data, "
        "u.username AS owner, a.unique_id AS agency "
        "FROM records_record r LEFT JOIN access_user u ON u.id = r.owner_id "
        "LEFT JOIN access_agency a ON a.id = r.agency_id WHERE r.id = %s",
        [record_id],
    )
    return json_response(found)


@require_GET
def sql_list(request: HttpRequest, user_id: int) -> HttpResponse:
    found = rows(
        f"SELECT {list_columns_sql()} FROM records_record "  # noqa: S608
        "WHERE record_type_id = %s AND owner_id = %s AND status = 'open' AND NOT disabled "
        "ORDER BY updated_at DESC, id DESC LIMIT %s",
        [record_type_id(), user_id, PAGE_SIZE + 1],
    )
    return json_response(found)


@require_GET
def sql_search(request: HttpRequest) -> HttpResponse:
    text = fold_for_search(request.GET["q"])
    found = rows(
        f"SELECT {list_columns_sql()} FROM records_record "  # noqa: S608
        "WHERE record_type_id = %s AND agency_id = %s AND status = 'open' AND NOT disabled "
        "AND (search_vector @@ (websearch_to_tsquery('simple'::regconfig, %s) || "
        "websearch_to_tsquery(%s::regconfig, %s)) OR data @> jsonb_build_object(%s, %s)) "
        # As tutela.records.search sorts: by an expression, so the matches come from the GIN
        # indexes first.
        "ORDER BY updated_at + interval '0' DESC, id DESC LIMIT %s",
        [
            record_type_id(),
            int(request.GET["agency"]),
            text,
            settings.TUTELA_SEARCH_LANGUAGE,
            text,
            "national_id_number",
            request.GET["q"].strip(),
            PAGE_SIZE + 1,
        ],
    )
    return json_response(found)


@require_GET
def sql_name(request: HttpRequest) -> HttpResponse:
    groups = names.query_key_groups(request.GET["q"])
    overlaps = " AND ".join("name_keys && %s::varchar[]" for _ in groups) or "false"
    found = rows(
        f"SELECT {list_columns_sql()}, display_name FROM records_record "  # noqa: S608
        "WHERE record_type_id = %s AND NOT disabled AND status = 'open' "
        f"AND (owner_id = %s OR agency_id = %s) AND {overlaps} "
        "ORDER BY updated_at + interval '0' DESC LIMIT %s",
        [
            record_type_id(),
            int(request.GET["user"]),
            int(request.GET["agency"]),
            *groups,
            FUZZY_CANDIDATES,
        ],
    )
    return json_response(found)


@csrf_exempt
@require_POST
def sql_save(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    text = request.POST["text"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE records_record SET data = jsonb_set(data, %s, to_jsonb(%s::text)), "
            "version = version + 1, updated_at = %s WHERE id = %s "
            "RETURNING version, owner_id, data->%s",
            [[SAVED_FIELD], text, timezone.now(), record_id, SAVED_FIELD],
        )
        row = cursor.fetchone()
        assert row is not None
        version, owner_id, old = row
        cursor.execute(
            "INSERT INTO records_recordhistory (record_id, version, action, user_id, at, changes) "
            "VALUES (%s, %s, 'update', %s, %s, %s)",
            [
                record_id,
                version,
                owner_id,
                timezone.now(),
                json.dumps({SAVED_FIELD: {"old": old, "new": text}}),
            ],
        )
    return json_response({"version": version})


# Minimal Django views: the records layer's own functions, without the page around them.


def listed(records: list[Record]) -> list[dict[str, Any]]:
    return [
        {"id": r.pk, "short_id": r.short_id, "name": r.display_name, "updated": r.updated_at}
        for r in records
    ]


@require_GET
def django_open(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    record = Record.objects.select_related("owner", "agency", "record_type").get(pk=record_id)
    return JsonResponse({"id": str(record.pk), "short_id": record.short_id, "data": record.data})


@require_GET
def django_list(request: HttpRequest, user_id: int) -> HttpResponse:
    criteria = Criteria(record_type=RECORD_TYPE, status="open", owner_id=user_id)
    return json_response(listed(search(criteria, limit=PAGE_SIZE).records))


@require_GET
def django_search(request: HttpRequest) -> HttpResponse:
    criteria = Criteria(
        record_type=RECORD_TYPE,
        text=request.GET["q"],
        status="open",
        agency_id=int(request.GET["agency"]),
    )
    return json_response(listed(search(criteria, limit=PAGE_SIZE).records))


@require_GET
def django_name(request: HttpRequest) -> HttpResponse:
    form = get_form(RECORD_TYPE)
    scope = Q(owner_id=int(request.GET["user"])) | Q(agency_id=int(request.GET["agency"]))
    records = Record.objects.filter(record_type=form.record_type, disabled=False, status="open")
    matches = find_by_name(RECORD_TYPE, request.GET["q"], records=records.filter(scope), limit=50)
    return json_response(listed([match.record for match in matches]))


@csrf_exempt
@require_POST
def django_save(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    record = Record.objects.select_related("owner").only("version", "owner").get(pk=record_id)
    changes = {SAVED_FIELD: request.POST["text"]}
    saved = update_record(record_id, changes, record.owner, base_version=record.version)
    return json_response({"version": saved.version})
