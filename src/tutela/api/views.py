"""REST API v1: records and read-only configuration.

Views are thin: parse, check, call one action or query, render. Personal data never travels in
a URL: searches are POSTed with a JSON body, and record URLs carry only the UUID.
"""

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tutela.access import permissions
from tutela.access.actions import AccessChangeInvalid, AccessDenied, refer_record
from tutela.access.models import User
from tutela.access.permissions import record_scope
from tutela.api import serializers as api
from tutela.api.errors import PreconditionRequired, UnknownRecordType
from tutela.audit.log import record_event
from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.loading import dump_record_type
from tutela.configuration.models import Location, Lookup, RecordType
from tutela.records import actions
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.search import Criteria, find_by_name, find_duplicates, search

ERRORS = {
    400: OpenApiResponse(api.ErrorSerializer, description="Invalid request or values"),
    401: OpenApiResponse(api.ErrorSerializer, description="Not signed in"),
    403: OpenApiResponse(api.ErrorSerializer, description="Not allowed"),
    404: OpenApiResponse(api.ErrorSerializer, description="Not found"),
}
RECORD_TYPE = OpenApiParameter(
    "record_type", OpenApiTypes.STR, OpenApiParameter.PATH, description="case, incident, ..."
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version you read, such as "3".',
)


def form_for(record_type: str) -> FormDefinition:
    try:
        return get_form(record_type)
    except LookupError:
        raise UnknownRecordType(f"{record_type!r} is not a record type.") from None


def records_of(request: Request, record_type: str) -> QuerySet[Record]:
    """The records of `record_type` that the signed-in user may see."""
    return (
        Record.objects.filter(record_type__unique_id=record_type)
        .filter(record_scope(acting_user(request), record_type))
        .select_related("record_type", "owner", "agency")
    )


def get_record(request: Request, record_type: str, record_id: uuid.UUID) -> Record:
    form_for(record_type)
    try:
        return records_of(request, record_type).get(pk=record_id)
    except Record.DoesNotExist:
        # The same answer for a record that does not exist and one out of scope.
        raise exceptions.NotFound(f"No {record_type} has the id {record_id}.") from None


def acting_user(request: Request) -> User:
    """Return the signed-in user; the permission classes have already refused anonymous ones."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


def require(request: Request, resource: str, action: str) -> None:
    """Raise 403 unless the signed-in user's role allows `action` on `resource`."""
    if not permissions.can(acting_user(request), resource, action):
        raise exceptions.PermissionDenied(f"Your role does not allow {action} on {resource}.")


def require_writable(request: Request, record_type: str, data: dict[str, Any]) -> None:
    """Raise 403 naming the fields of `data` in sections the user may only read or not see."""
    form = form_for(record_type)
    refused = permissions.unwritable_fields(acting_user(request), form, data)
    if refused:
        raise exceptions.PermissionDenied(
            f"Your role may not change these fields: {', '.join(refused)}. "
            "Leave them out of the request."
        )


def shown(request: Request, records: list[Record]) -> list[Record]:
    """Drop the values of sections hidden from the signed-in user from each record's data.

    The records are changed in memory only, for the response; never save them afterwards.
    """
    user = acting_user(request)
    forms: dict[str, FormDefinition] = {}
    for record in records:
        record_type = record.record_type.unique_id
        form = forms.get(record_type) or forms.setdefault(record_type, form_for(record_type))
        record.data = permissions.visible_data(user, form, record.data)
    return records


def expected_version(request: Request, record: Record) -> int:
    """Read the version the client based its change on from If-Match."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        raise PreconditionRequired()
    if header == "*":
        return record.version
    value = header.removeprefix("W/").strip('"')
    if not value.isdigit():
        raise serializers.ValidationError(
            {"If-Match": f'{header!r} is not an ETag of this API; send the ETag, such as "3".'}
        )
    return int(value)


def record_response(request: Request, record: Record, status_code: int = 200) -> Response:
    shown(request, [record])
    response = Response(api.RecordSerializer(record).data, status=status_code)
    response["ETag"] = f'"{record.version}"'
    return response


def audit_search(request: Request, record_type: str, params: dict[str, Any]) -> None:
    """Record which filters a search used; free text and names may identify a child, so only
    their presence is recorded."""
    record_event(
        f"{record_type}.search",
        user=request.user,
        object_type=record_type,
        details={
            "text": bool(params.get("text")),
            "name": bool(params.get("name")),
            "filters": sorted([*params.get("filters", {}), *params.get("dates", {})]),
            "status": params.get("status"),
            "owner": params.get("owner"),
        },
    )


class RecordListView(APIView):
    @extend_schema(
        operation_id="records_list",
        parameters=[
            RECORD_TYPE,
            OpenApiParameter("status", OpenApiTypes.STR, enum=["open", "closed"]),
            OpenApiParameter("owner", OpenApiTypes.STR, enum=["me", "all"]),
            OpenApiParameter(
                "sort",
                OpenApiTypes.STR,
                enum=["updated", "-updated", "created", "-created", "short_id", "name"],
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT),
        ],
        responses={200: api.RecordPageSerializer, **ERRORS},
    )
    def get(self, request: Request, record_type: str) -> Response:
        """List records, most recently updated first, one page at a time."""
        params = api.SearchSerializer(
            data={
                k: request.query_params[k]
                for k in ("status", "owner", "sort", "cursor", "limit")
                if k in request.query_params
            }
        )
        params.is_valid(raise_exception=True)
        return self.page(request, record_type, params.validated_data)

    @extend_schema(
        operation_id="records_create",
        parameters=[RECORD_TYPE],
        request=api.RecordWriteSerializer,
        responses={201: api.RecordSerializer, **ERRORS},
    )
    def post(self, request: Request, record_type: str) -> Response:
        """Register a record. Check for duplicates first with the duplicates endpoint."""
        form_for(record_type)
        require(request, record_type, "create")
        body = api.RecordWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_writable(request, record_type, body.validated_data["data"])
        record = actions.create_record(
            record_type, body.validated_data["data"], acting_user(request)
        )
        created = records_of(request, record_type).get(pk=record.pk)
        response = record_response(request, created, 201)
        response["Location"] = reverse(
            "api:record", kwargs={"record_type": record_type, "record_id": record.pk}
        )
        return response

    @staticmethod
    def page(request: Request, record_type: str, params: dict[str, Any]) -> Response:
        form_for(record_type)
        criteria = Criteria(
            record_type,
            text=params.get("text", ""),
            status=params.get("status"),
            owner_id=request.user.pk if params.get("owner") == "me" else None,
            include_disabled=params.get("include_disabled", False),
            selects=params.get("filters", {}),
            dates={
                name: (
                    str(bounds["start"]) if bounds.get("start") else None,
                    str(bounds["end"]) if bounds.get("end") else None,
                )
                for name, bounds in params.get("dates", {}).items()
            },
            sort=params.get("sort", "updated"),
            scope=record_scope(acting_user(request), record_type),
            scope_parts=permissions.record_scope_parts(acting_user(request), record_type),
        )
        result = search(criteria, limit=params.get("limit", 25), cursor=params.get("cursor"))
        return Response(
            {
                "results": api.RecordSerializer(shown(request, result.records), many=True).data,
                "next_cursor": result.next_cursor,
            }
        )


class RecordSearchView(APIView):
    @extend_schema(
        operation_id="records_search",
        parameters=[RECORD_TYPE],
        request=api.SearchSerializer,
        responses={200: api.RecordPageSerializer, **ERRORS},
    )
    def post(self, request: Request, record_type: str) -> Response:
        """Search records by free text, exact ids, filters or a fuzzy name."""
        params = api.SearchSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        audit_search(request, record_type, params.validated_data)
        name = params.validated_data.get("name", "").strip()
        if name:
            form_for(record_type)
            matches = find_by_name(
                record_type,
                name,
                limit=params.validated_data["limit"],
                records=records_of(request, record_type).filter(disabled=False),
            )
            results = shown(request, [m.record for m in matches])
            return Response(
                {"results": api.RecordSerializer(results, many=True).data, "next_cursor": None}
            )
        return RecordListView.page(request, record_type, params.validated_data)


class DuplicateCheckView(APIView):
    @extend_schema(
        operation_id="records_duplicates",
        parameters=[RECORD_TYPE],
        request=api.DuplicateCheckSerializer,
        responses={200: api.DuplicateSerializer(many=True), **ERRORS},
    )
    def post(self, request: Request, record_type: str) -> Response:
        """List existing records that may be the same child, best match first."""
        form_for(record_type)
        body = api.DuplicateCheckSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidates = find_duplicates(
            record_type,
            body.validated_data["data"],
            scope=record_scope(acting_user(request), record_type),
        )
        shown(request, [c.record for c in candidates])
        return Response(api.DuplicateSerializer(candidates, many=True).data)


class RecordDetailView(APIView):
    @extend_schema(
        operation_id="records_read",
        parameters=[RECORD_TYPE],
        responses={200: api.RecordSerializer, **ERRORS},
    )
    def get(self, request: Request, record_type: str, record_id: uuid.UUID) -> Response:
        """Read a record; its ETag is its version."""
        record = get_record(request, record_type, record_id)
        record_event(
            f"{record_type}.view", user=request.user, object_type=record_type, object_id=record.pk
        )
        if request.headers.get("If-None-Match", "").strip('"') == str(record.version):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": f'"{record.version}"'}
            )
        return record_response(request, record)

    @extend_schema(
        operation_id="records_update",
        parameters=[RECORD_TYPE, IF_MATCH],
        request=api.RecordWriteSerializer,
        responses={
            200: api.RecordSerializer,
            412: OpenApiResponse(api.ErrorSerializer, description="Changed since If-Match"),
            428: OpenApiResponse(api.ErrorSerializer, description="If-Match missing"),
            **ERRORS,
        },
    )
    def patch(self, request: Request, record_type: str, record_id: uuid.UUID) -> Response:
        """Change some fields. A stale If-Match is refused with 412 and the changed fields."""
        record = get_record(request, record_type, record_id)
        require(request, record_type, "write")
        version = expected_version(request, record)
        body = api.RecordWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_writable(request, record_type, body.validated_data["data"])
        actions.update_record(
            record.pk, body.validated_data["data"], acting_user(request), base_version=version
        )
        return record_response(request, get_record(request, record_type, record_id))


class RecordStateView(APIView):
    """Close, reopen, disable or enable a record."""

    change: str = ""

    @extend_schema(
        parameters=[RECORD_TYPE, IF_MATCH],
        request=None,
        responses={
            200: api.RecordSerializer,
            412: OpenApiResponse(api.ErrorSerializer, description="Changed since If-Match"),
            428: OpenApiResponse(api.ErrorSerializer, description="If-Match missing"),
            **ERRORS,
        },
    )
    def post(self, request: Request, record_type: str, record_id: uuid.UUID) -> Response:
        record = get_record(request, record_type, record_id)
        require(request, record_type, "write" if self.change in ("close", "reopen") else "disable")
        version = expected_version(request, record)
        user = acting_user(request)
        if self.change == "close":
            actions.set_status(record.pk, Status.CLOSED, user, base_version=version)
        elif self.change == "reopen":
            actions.set_status(record.pk, Status.OPEN, user, base_version=version)
        else:
            actions.set_disabled(record.pk, self.change == "disable", user, base_version=version)
        return record_response(request, get_record(request, record_type, record_id))


class RecordHistoryView(APIView):
    @extend_schema(
        operation_id="records_history",
        parameters=[RECORD_TYPE],
        responses={200: api.HistorySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, record_type: str, record_id: uuid.UUID) -> Response:
        """List every save of the record, oldest first, with each field's old and new value."""
        record = get_record(request, record_type, record_id)
        record_event(
            f"{record_type}.history_view",
            user=request.user,
            object_type=record_type,
            object_id=record.pk,
        )
        rows = list(
            RecordHistory.objects.filter(record=record).select_related("user").order_by("version")
        )
        hidden = permissions.hidden_fields(acting_user(request), form_for(record_type))
        for row in rows:
            row.changes = {name: c for name, c in row.changes.items() if name not in hidden}
        return Response(api.HistorySerializer(rows, many=True).data)


class RecordReferralView(APIView):
    @extend_schema(
        operation_id="records_refer",
        parameters=[RECORD_TYPE],
        request=api.ReferralSerializer,
        responses={201: api.ReferralSerializer, **ERRORS},
    )
    def post(self, request: Request, record_type: str, record_id: uuid.UUID) -> Response:
        """Refer the record to a user, who may then read it with their role's section access."""
        record = get_record(request, record_type, record_id)
        body = api.ReferralSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["recipient"]
        recipient = User.objects.filter(username=username).first()
        if recipient is None:
            raise serializers.ValidationError({"recipient": f"No user is named {username!r}."})
        try:
            refer_record(acting_user(request), record, recipient)
        except AccessDenied as e:
            raise exceptions.PermissionDenied(str(e)) from None
        except AccessChangeInvalid as e:
            raise serializers.ValidationError({"recipient": str(e)}) from None
        return Response({"recipient": recipient.username}, status=status.HTTP_201_CREATED)


class RecordTypeListView(APIView):
    @extend_schema(operation_id="configuration_record_types", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """List the record types with their names per locale."""
        return Response(
            [{"unique_id": rt.unique_id, "name": rt.name} for rt in RecordType.objects.all()]
        )


class RecordTypeDetailView(APIView):
    @extend_schema(
        operation_id="configuration_record_type",
        parameters=[RECORD_TYPE],
        responses={200: OpenApiTypes.OBJECT, 404: ERRORS[404]},
    )
    def get(self, request: Request, record_type: str) -> Response:
        """Return one record type's form groups, sections and fields in the configuration
        format."""
        form = form_for(record_type)
        record_type_row = RecordType.objects.prefetch_related("groups", "sections__fields").get(
            pk=form.record_type.pk
        )
        return Response(dump_record_type(record_type_row))


class LookupListView(APIView):
    @extend_schema(operation_id="configuration_lookups", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """List every lookup with its translated options."""
        return Response(
            [
                {"unique_id": lookup.unique_id, "name": lookup.name, "options": lookup.options}
                for lookup in Lookup.objects.all()
            ]
        )


class LocationListView(APIView):
    @extend_schema(
        operation_id="configuration_locations",
        parameters=[
            OpenApiParameter(
                "parent", OpenApiTypes.STR, description="Code of the parent; omit for the top level"
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        """List the children of one location (or the top level), for pickers."""
        parent = request.query_params.get("parent")
        locations = Location.objects.filter(disabled=False).select_related("parent")
        locations = (
            locations.filter(parent__unique_id=parent)
            if parent
            else locations.filter(parent__isnull=True)
        )
        return Response(
            [
                {"code": loc.unique_id, "admin_level": loc.admin_level, "name": loc.name}
                for loc in locations[:5000]
            ]
        )


def api_not_found(request: HttpRequest, path: str) -> JsonResponse:
    """Answer unknown addresses under /api/ in the API's error shape, not with an HTML page."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": "No API endpoint has this address."}},
        status=404,
    )
