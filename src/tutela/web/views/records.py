"""The record list, a record's page, its history, and disabling and enabling it.

Every view takes the record type from the address (/records/<type>/...; /cases/... is the
same for cases), so cases, incidents, tracing requests and families share these pages.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tutela.access import permissions
from tutela.access.models import RecordScope, User
from tutela.access.permissions import can, record_scope, scope_of
from tutela.attachments.models import Attachment
from tutela.audit.log import record_event
from tutela.configuration.forms import FormDefinition
from tutela.configuration.models import ATTACHMENT_TYPES, Field
from tutela.encryption.policy import policy_of_form
from tutela.records.actions import RecordConflict, set_disabled
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.search import Criteria, SearchError, base_queryset, find_by_name, search
from tutela.web.decorators import signed_in
from tutela.web.display import Display, archived_values, record_groups
from tutela.web.editing import Option, OptionSource
from tutela.web.kinds import Kind, form_of
from tutela.web.models import RecentView, SavedSearch
from tutela.web.routes import record_url

PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 50
# How many recently viewed records each user keeps.
RECENT_KEPT = 20
SEARCH_MODES = ("text", "name")
# Field types whose `list: true` fields become filter selects on the list.
FILTER_TYPES = ("select", "radio", "tick_box", "location")
SORT_LABELS = {
    "updated": gettext_lazy("Recently updated"),
    "created": gettext_lazy("Recently registered"),
    "short_id": gettext_lazy("Id"),
    "name": gettext_lazy("Name"),
}


def signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the view is decorated with signed_in  # noqa: S101
    return user


def search_session_key(record_type: str) -> str:
    # The search text stays in the session, not in the address: it is often a child's name,
    # and addresses end up in browser history, proxy logs and the server's access log.
    return f"tutela.search.{record_type}"


def may_see_disabled(user: User, record_type: str) -> bool:
    """Return whether `user` may list disabled records, as those who may disable them can.
    Others find a disabled record by its address only."""
    return can(user, record_type, "disable")


def may_disable(user: User, record: Record) -> bool:
    return can(user, record.record_type.unique_id, "disable")


def section_access_map(user: User, form: FormDefinition) -> dict[str, str]:
    """Return the user's access to each section of `form`: write, read or hidden."""
    return {
        section.unique_id: permissions.section_access(user, form, section.unique_id)
        for section in form.sections
    }


# The list


@dataclass
class FilterSelect:
    field: Field
    name: str
    options: list[Option]
    value: str = ""


def filter_fields(form: FormDefinition) -> list[Field]:
    return [f for f in form.list_fields() if f.type in FILTER_TYPES]


def filter_selects(form: FormDefinition, values: dict[str, str]) -> list[FilterSelect]:
    source = OptionSource(form)
    selects = []
    for f in filter_fields(form):
        if f.type == "tick_box":
            options = [Option("true", _("Yes")), Option("false", _("No"))]
        else:
            options = source.options(f, [])
        selects.append(FilterSelect(f, f"f_{f.name}", options, values.get(f.name, "")))
    return selects


def name_sort_allowed(form: FormDefinition) -> bool:
    """Sorting by name needs name fields, stored in clear (not marked sensitive)."""
    return bool(form.semantic.get("name")) and not policy_of_form(form).names


@dataclass
class ListFilters:
    """The list's filters: all in the address but the search text, which stays in the session."""

    record_type: str
    status: str = Status.OPEN.value
    scope: str = "mine"
    sort: str = "updated"
    # {field name: option id, location code, "true" or "false"}
    selects: dict[str, str] = field(default_factory=dict)
    show_disabled: bool = False
    cursor: str | None = None
    search_mode: str = "text"
    search_text: str = ""

    @classmethod
    def parse(
        cls, params: QueryDict, record_type: str, form: FormDefinition, user: User
    ) -> "ListFilters":
        status = params.get("status", Status.OPEN.value)
        # Managers and administrators supervise others' records; a caseworker starts from their
        # own.
        wide = scope_of(user) != RecordScope.OWN
        scope = params.get("scope", "all" if wide else "mine")
        sort = params.get("sort", "updated")
        if sort == "name" and not name_sort_allowed(form):
            sort = "updated"
        selects = {}
        for f in filter_fields(form):
            value = params.get(f"f_{f.name}", "").strip()
            if value and len(value) <= 100:
                selects[f.name] = value
        return cls(
            record_type=record_type,
            status=status if status in (*Status.values, "any") else Status.OPEN.value,
            scope=scope if scope in ("mine", "all") else "mine",
            sort=sort if sort in SORT_LABELS else "updated",
            selects=selects,
            show_disabled=params.get("disabled") == "1" and may_see_disabled(user, record_type),
            cursor=params.get("cursor") or None,
        )

    def params(self) -> dict[str, str]:
        """Return the list's address parameters, without the search text."""
        params = {"status": self.status, "scope": self.scope, "sort": self.sort}
        params.update({f"f_{name}": value for name, value in self.selects.items()})
        if self.show_disabled:
            params["disabled"] = "1"
        return params

    def query(self, **changes: str) -> str:
        return urlencode({**self.params(), **changes})

    @property
    def query_all(self) -> str:
        return self.query(scope="all")

    def criteria(self, user: User) -> Criteria:
        selects: dict[str, Any] = {}
        for name, value in self.selects.items():
            selects[name] = {"true": True, "false": False}.get(value, value)
        return Criteria(
            record_type=self.record_type,
            text=self.search_text,
            status=None if self.status == "any" else self.status,
            owner_id=user.pk if self.scope == "mine" else None,
            include_disabled=self.show_disabled,
            selects=selects,
            sort=self.sort,
            scope=record_scope(user, self.record_type),
            scope_parts=permissions.record_scope_parts(user, self.record_type),
        )


@dataclass
class ListRow:
    record: Record
    # (column label, value as text)
    cells: list[tuple[str, str]]
    score: float | None = None


@dataclass
class RecordList:
    columns: list[Field]
    rows: list[ListRow] = field(default_factory=list)
    next_cursor: str | None = None


@require_http_methods(["GET", "POST"])
@signed_in
def record_list(request: HttpRequest, record_type: str) -> HttpResponse:
    form = form_of(record_type)
    user = signed_in_user(request)
    filters = ListFilters.parse(request.GET, record_type, form, user)
    list_address = record_url("list", record_type)
    if request.method == "POST":
        remember_search(request, record_type)
        return redirect(f"{list_address}?{filters.query()}")

    stored = request.session.get(search_session_key(record_type)) or {}
    filters.search_mode = stored.get("mode", "text")
    filters.search_text = stored.get("text", "")
    if (filters.search_text or filters.selects) and not filters.cursor:
        # Only that a search ran, its kind and the filters' names: the text is often a name.
        record_event(
            f"{record_type}.search",
            user=user,
            object_type=record_type,
            details={
                "mode": filters.search_mode,
                "status": filters.status,
                "scope": filters.scope,
                "filters": sorted(filters.selects),
                "text": bool(filters.search_text),
            },
        )
    try:
        listing = list_records(form, user, filters)
    except SearchError as e:
        messages.error(request, str(e))
        return redirect(f"{list_address}?{filters.query()}")

    context = {"kind": Kind(form.record_type), "filters": filters, "listing": listing}
    if request.headers.get("HX-Request") and filters.cursor:
        return render(request, "web/_record_rows.html", context)
    context.update(
        {
            "search_modes": SEARCH_MODES,
            "selects": filter_selects(form, filters.selects),
            "sorts": [
                (key, label)
                for key, label in SORT_LABELS.items()
                if key != "name" or name_sort_allowed(form)
            ],
            "may_see_disabled": may_see_disabled(user, record_type),
            "saved_searches": SavedSearch.objects.filter(user=user, record_type=record_type),
        }
    )
    return render(request, "web/record_list.html", context)


def remember_search(request: HttpRequest, record_type: str) -> None:
    key = search_session_key(record_type)
    text = request.POST.get("q", "").strip()[:200]
    mode = request.POST.get("mode", "text")
    if request.POST.get("clear") or not text:
        request.session.pop(key, None)
        return
    request.session[key] = {"mode": mode if mode in SEARCH_MODES else "text", "text": text}


def list_records(form: FormDefinition, user: User, filters: ListFilters) -> RecordList:
    listing = RecordList(columns=form.list_fields())
    criteria = filters.criteria(user)

    if filters.search_mode == "name" and filters.search_text:
        records = base_queryset(criteria, form)
        matches = find_by_name(
            form.record_type.unique_id, filters.search_text, records=records, limit=50
        )
        found: list[tuple[Record, float | None]] = [(m.record, round(m.score)) for m in matches]
    else:
        page = search(criteria, limit=PAGE_SIZE, cursor=filters.cursor)
        found = [(record, None) for record in page.records]
        listing.next_cursor = page.next_cursor

    display = Display(form)
    display.prefetch((f, r.data.get(f.name)) for r, _ in found for f in listing.columns)
    for record, score in found:
        cells = [
            (f.display_label, display.text(f, record.data.get(f.name))) for f in listing.columns
        ]
        listing.rows.append(ListRow(record, cells, score))
    return listing


# A record's page


def viewable_record(request: HttpRequest, record_type: str, record_id: uuid.UUID) -> Record:
    """Return the record named in the address. Raise 404 when it does not exist or the user
    may not see it: the same response for both, so that ids cannot be probed."""
    scope = record_scope(signed_in_user(request), record_type)
    return get_object_or_404(
        Record.objects.select_related("owner", "agency", "record_type").filter(scope),
        pk=record_id,
        record_type__unique_id=record_type,
    )


def remember_view(user: User, record: Record) -> None:
    """Note that `user` opened `record` now, for the home page; keep the latest few."""
    RecentView.objects.bulk_create(
        [RecentView(user=user, record=record, viewed_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "record"],
        update_fields=["viewed_at"],
    )
    kept = RecentView.objects.filter(user=user).order_by("-viewed_at")[:RECENT_KEPT]
    RecentView.objects.filter(user=user).exclude(pk__in=kept.values("pk")).delete()


@require_GET
@signed_in
def record_view(request: HttpRequest, record_type: str, record_id: uuid.UUID) -> HttpResponse:
    record = viewable_record(request, record_type, record_id)
    user = signed_in_user(request)
    # One transaction, so that the page costs one commit; the audit entry comes last because
    # it holds the audit chain's lock until the commit.
    with transaction.atomic():
        remember_view(user, record)
        record_event(f"{record_type}.view", user=user, object_type=record_type, object_id=record.pk)
    form = form_of(record_type)
    display = Display(form, record=record)
    # Hidden sections are left out whole; skip logic still reads every value.
    groups = record_groups(display, record.data, section_access_map(user, form))
    archived = []
    if can(user, "configuration", "read"):
        archived = archived_values(display, record.data)
    kind = Kind(form.record_type)
    return render(
        request,
        "web/record_view.html",
        {
            "kind": kind,
            "record": record,
            "title": kind.one(record.short_id),
            "groups": groups,
            "archived": archived,
            "may_disable": may_disable(user, record),
        },
    )


@require_POST
@signed_in
def record_disable(request: HttpRequest, record_type: str, record_id: uuid.UUID) -> HttpResponse:
    """Disable a record (hidden from lists, kept with its history) or enable it again."""
    record = viewable_record(request, record_type, record_id)
    user = signed_in_user(request)
    if not may_disable(user, record):
        raise PermissionDenied
    disabled = request.POST.get("disabled") == "1"
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    try:
        set_disabled(record.pk, disabled, user, base_version=version)
    except RecordConflict:
        messages.error(
            request,
            _("The record changed since you opened it. Check it below, then try again."),
        )
        return redirect(record_url("view", record_type, record.pk))
    if disabled:
        messages.success(request, _("Disabled. It is hidden from lists and cannot be edited."))
    else:
        messages.success(request, _("Enabled. It can be edited and is listed again."))
    return redirect(record_url("view", record_type, record.pk))


# History


@dataclass
class Change:
    label: str
    old: str
    new: str
    # Attachments: which files the save added and removed.
    note: str = ""


@dataclass
class HistoryEntry:
    entry: RecordHistory
    changes: list[Change]


@require_GET
@signed_in
def record_history(request: HttpRequest, record_type: str, record_id: uuid.UUID) -> HttpResponse:
    record = viewable_record(request, record_type, record_id)
    record_event(
        f"{record_type}.history_view",
        user=request.user,
        object_type=record_type,
        object_id=record.pk,
    )
    form = form_of(record_type)
    entries = RecordHistory.objects.filter(record=record).select_related("user")
    before = request.GET.get("before", "")
    if before.isdigit():
        entries = entries.filter(version__lt=int(before))
    page = list(entries.order_by("-version")[: HISTORY_PAGE_SIZE + 1])
    older = page[HISTORY_PAGE_SIZE].version + 1 if len(page) > HISTORY_PAGE_SIZE else None

    display = Display(form, record=record)
    rows = page[:HISTORY_PAGE_SIZE]
    display.prefetch(
        (f, value)
        for entry in rows
        for name, change in entry.changes.items()
        if (f := field_named(form, name)) is not None
        for value in (change.get("old"), change.get("new"))
    )
    hidden = permissions.hidden_fields(request.user, form)
    history = [
        HistoryEntry(entry, describe_changes(form, display, entry, hidden)) for entry in rows
    ]
    kind = Kind(form.record_type)
    return render(
        request,
        "web/record_history.html",
        {"kind": kind, "record": record, "history": history, "older": older},
    )


def field_named(form: FormDefinition, name: str) -> Field | None:
    return form.fields.get(name) or form.archived_fields.get(name)


def describe_changes(
    form: FormDefinition, display: Display, entry: RecordHistory, hidden: set[str] | None = None
) -> list[Change]:
    """Describe one save's changes, leaving out the fields in `hidden`."""
    changes: list[Change] = []
    for name, change in entry.changes.items():
        if hidden and name in hidden:
            continue
        old, new = change.get("old"), change.get("new")
        if name.startswith("$"):
            changes.append(column_change(name, old, new))
            continue
        f = field_named(form, name)
        if f is None:
            changes.append(Change(name, str(old or ""), str(new or "")))
        elif f.type == "subform" and f.spec.get("subform") in form.subforms:
            changes.extend(row_changes(form, display, f, old, new))
        elif f.type in ATTACHMENT_TYPES:
            changes.append(file_change(display, f.display_label, old, new))
        else:
            changes.append(Change(f.display_label, display.text(f, old), display.text(f, new)))
    return changes


def file_change(display: Display, label: str, old: Any, new: Any) -> Change:
    """Describe the files before and after a save, with those added and those removed."""
    before = display.files(old)
    after = display.files(new)
    added = [a.file_name for a in after if a not in before]
    removed = [a.file_name for a in before if a not in after]
    notes = []
    if added:
        notes.append(_("Added: %(files)s") % {"files": ", ".join(added)})
    if removed:
        notes.append(_("Removed: %(files)s") % {"files": ", ".join(removed)})
    return Change(label, display.file_names(old), display.file_names(new), " · ".join(notes))


def column_change(name: str, old: Any, new: Any) -> Change:
    if name == "$status":
        labels = dict(Status.choices)
        return Change(_("Status"), str(labels.get(old, old or "")), str(labels.get(new, new)))
    if name == "$disabled":
        return Change(_("Disabled"), _("Yes") if old else _("No"), _("Yes") if new else _("No"))
    return Change(name.lstrip("$"), str(old or ""), str(new or ""))


def row_changes(
    form: FormDefinition, display: Display, f: Field, old: Any, new: Any
) -> list[Change]:
    """List one change per changed value in a kept or added row, and one for removed rows."""
    subform = form.subform_of(f)
    before = {row.get("unique_id"): row for row in old or [] if isinstance(row, dict)}
    after = {row.get("unique_id"): row for row in new or [] if isinstance(row, dict)}
    changes: list[Change] = []
    for number, (key, row) in enumerate(after.items(), start=1):
        label = _("%(field)s, row %(number)d") % {"field": f.display_label, "number": number}
        previous = before.get(key)
        for sub in subform.fields:
            was = previous.get(sub.name) if previous else None
            if previous is not None and was == row.get(sub.name):
                continue
            if previous is None and row.get(sub.name) in (None, ""):
                continue
            sub_label = f"{label}: {sub.display_label}"
            if sub.type in ATTACHMENT_TYPES:
                changes.append(file_change(display, sub_label, was, row.get(sub.name)))
                continue
            changes.append(
                Change(sub_label, display.text(sub, was), display.text(sub, row.get(sub.name)))
            )
    removed = [key for key in before if key not in after]
    if removed:
        changes.append(
            Change(
                f.display_label,
                "",
                ngettext("%(count)d row removed", "%(count)d rows removed", len(removed))
                % {"count": len(removed)},
            )
        )
    return changes


def attachment_of(request: HttpRequest, attachment_id: uuid.UUID) -> Attachment:
    """Return an attachment whose record the user may see; 404 otherwise."""
    attachment = get_object_or_404(
        Attachment.objects.select_related("record", "record__record_type"), pk=attachment_id
    )
    user = signed_in_user(request)
    record_type = attachment.record.record_type.unique_id
    if not Record.objects.filter(record_scope(user, record_type), pk=attachment.record_id).exists():
        raise Http404
    # A file in a section hidden from the user is as absent as a record out of scope.
    if field_hidden(user, form_of(record_type), attachment.field_name):
        raise Http404
    return attachment


def field_hidden(user: User, form: FormDefinition, field_name: str) -> bool:
    """Return whether a field, named as attachments name it ("<field>" or "<subform>.<field>"),
    lies in a section hidden from `user`."""
    head = field_name.split(".", 1)[0]
    hidden = permissions.hidden_fields(user, form)
    if head in hidden:
        return True
    return any(form.fields[name].spec.get("subform") == head for name in hidden)
