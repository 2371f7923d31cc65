"""Home, the case list, the case page and its history."""

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from tutela.access.models import User
from tutela.access.scopes import can_view_record, record_scope, sees_everything
from tutela.audit.log import record_event
from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import Field
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.search import Criteria, SearchError, find_by_name, search
from tutela.web.decorators import signed_in
from tutela.web.display import Display, archived_values, record_groups

RECORD_TYPE = "case"
PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 50
# The search text stays in the session, not in the address: it is often a child's name, and
# addresses end up in browser history, proxy logs and the server's access log.
SEARCH_SESSION_KEY = "tutela.case_search"
SEARCH_MODES = ("text", "name")


def signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the view is decorated with signed_in  # noqa: S101
    return user


@require_GET
@signed_in
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    my_open = Record.objects.filter(
        record_type__unique_id=RECORD_TYPE, owner=user, status=Status.OPEN, disabled=False
    ).count()
    return render(request, "web/home.html", {"my_open_cases": my_open})


@dataclass
class ListFilters:
    status: str = Status.OPEN.value
    scope: str = "mine"
    cursor: str | None = None
    search_mode: str = "text"
    search_text: str = ""

    @classmethod
    def parse(cls, request: HttpRequest) -> "ListFilters":
        status = request.GET.get("status", Status.OPEN.value)
        # Staff supervise everyone's cases; a caseworker starts from their own.
        everything = isinstance(request.user, User) and sees_everything(request.user)
        scope = request.GET.get("scope", "all" if everything else "mine")
        stored = request.session.get(SEARCH_SESSION_KEY) or {}
        return cls(
            status=status if status in (*Status.values, "any") else Status.OPEN.value,
            scope=scope if scope in ("mine", "all") else "mine",
            cursor=request.GET.get("cursor") or None,
            search_mode=stored.get("mode", "text"),
            search_text=stored.get("text", ""),
        )

    def query(self, **changes: str) -> str:
        """Return the list's address parameters (never the search text), with `changes` applied."""
        return urlencode({"status": self.status, "scope": self.scope, **changes})

    @property
    def query_all(self) -> str:
        return self.query(scope="all")


@dataclass
class ListRow:
    record: Record
    # (column label, value as text)
    cells: list[tuple[str, str]]
    score: float | None = None


@dataclass
class CaseList:
    columns: list[Field]
    rows: list[ListRow] = field(default_factory=list)
    next_cursor: str | None = None


@require_http_methods(["GET", "POST"])
@signed_in
def case_list(request: HttpRequest) -> HttpResponse:
    filters = ListFilters.parse(request)
    if request.method == "POST":
        remember_search(request)
        return redirect(f"{reverse('web:case_list')}?{filters.query()}")

    user = signed_in_user(request)
    form = get_form(RECORD_TYPE)
    if filters.search_text and not filters.cursor:
        # Only that a search ran and its kind: the text is often a child's name.
        record_event(
            f"{RECORD_TYPE}.search",
            user=user,
            object_type=RECORD_TYPE,
            details={"mode": filters.search_mode, "status": filters.status, "scope": filters.scope},
        )
    try:
        listing = list_cases(form, user, filters)
    except SearchError as e:
        messages.error(request, str(e))
        return redirect(f"{reverse('web:case_list')}?{filters.query()}")

    context = {"filters": filters, "listing": listing, "search_modes": SEARCH_MODES}
    if request.headers.get("HX-Request") and filters.cursor:
        return render(request, "web/_case_rows.html", context)
    return render(request, "web/case_list.html", context)


def remember_search(request: HttpRequest) -> None:
    text = request.POST.get("q", "").strip()[:200]
    mode = request.POST.get("mode", "text")
    if request.POST.get("clear") or not text:
        request.session.pop(SEARCH_SESSION_KEY, None)
        return
    request.session[SEARCH_SESSION_KEY] = {
        "mode": mode if mode in SEARCH_MODES else "text",
        "text": text,
    }


def list_cases(form: FormDefinition, user: User, filters: ListFilters) -> CaseList:
    status = None if filters.status == "any" else filters.status
    listing = CaseList(columns=form.list_fields())

    if filters.search_mode == "name" and filters.search_text:
        records = Record.objects.filter(record_type=form.record_type, disabled=False)
        records = records.filter(record_scope(user))
        if status:
            records = records.filter(status=status)
        if filters.scope == "mine":
            records = records.filter(owner=user)
        matches = find_by_name(RECORD_TYPE, filters.search_text, records=records, limit=50)
        found: list[tuple[Record, float | None]] = [(m.record, round(m.score)) for m in matches]
    else:
        criteria = Criteria(record_type=RECORD_TYPE, text=filters.search_text, status=status)
        if filters.scope == "mine":
            criteria.owner_id = user.pk
        elif not sees_everything(user):
            # NOTE: "all" is the user's agency until roles with scopes arrive.
            if user.agency_id is not None:
                criteria.agency_id = user.agency_id
            else:
                criteria.owner_id = user.pk
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


def viewable_case(request: HttpRequest, record_id: uuid.UUID) -> Record:
    """Return the case named in the address. Raise 404 when it does not exist or the user may
    not see it: the same response for both, so that ids cannot be probed."""
    record = get_object_or_404(
        Record.objects.select_related("owner", "agency", "record_type"),
        pk=record_id,
        record_type__unique_id=RECORD_TYPE,
    )
    if not can_view_record(signed_in_user(request), record):
        raise Http404
    return record


@require_GET
@signed_in
def case_view(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    record = viewable_case(request, record_id)
    record_event(
        f"{RECORD_TYPE}.view", user=request.user, object_type=RECORD_TYPE, object_id=record.pk
    )
    form = get_form(RECORD_TYPE)
    display = Display(form)
    groups = record_groups(display, record.data)
    archived = []
    if signed_in_user(request).is_staff:
        archived = archived_values(display, record.data)
    return render(
        request,
        "web/case_view.html",
        {"record": record, "groups": groups, "archived": archived},
    )


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    entry: RecordHistory
    changes: list[Change]


@require_GET
@signed_in
def case_history(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    record = viewable_case(request, record_id)
    record_event(
        f"{RECORD_TYPE}.history_view",
        user=request.user,
        object_type=RECORD_TYPE,
        object_id=record.pk,
    )
    form = get_form(RECORD_TYPE)
    entries = RecordHistory.objects.filter(record=record).select_related("user")
    before = request.GET.get("before", "")
    if before.isdigit():
        entries = entries.filter(version__lt=int(before))
    page = list(entries.order_by("-version")[: HISTORY_PAGE_SIZE + 1])
    older = page[HISTORY_PAGE_SIZE].version + 1 if len(page) > HISTORY_PAGE_SIZE else None

    display = Display(form)
    rows = page[:HISTORY_PAGE_SIZE]
    display.prefetch(
        (f, value)
        for entry in rows
        for name, change in entry.changes.items()
        if (f := field_named(form, name)) is not None
        for value in (change.get("old"), change.get("new"))
    )
    history = [HistoryEntry(entry, describe_changes(form, display, entry)) for entry in rows]
    return render(
        request,
        "web/case_history.html",
        {"record": record, "history": history, "older": older},
    )


def field_named(form: FormDefinition, name: str) -> Field | None:
    return form.fields.get(name) or form.archived_fields.get(name)


def describe_changes(form: FormDefinition, display: Display, entry: RecordHistory) -> list[Change]:
    changes: list[Change] = []
    for name, change in entry.changes.items():
        old, new = change.get("old"), change.get("new")
        if name.startswith("$"):
            changes.append(column_change(name, old, new))
            continue
        f = field_named(form, name)
        if f is None:
            changes.append(Change(name, str(old or ""), str(new or "")))
        elif f.type == "subform" and f.spec.get("subform") in form.subforms:
            changes.extend(row_changes(form, display, f, old, new))
        else:
            changes.append(Change(f.display_label, display.text(f, old), display.text(f, new)))
    return changes


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
            changes.append(
                Change(
                    f"{label}: {sub.display_label}",
                    display.text(sub, was),
                    display.text(sub, row.get(sub.name)),
                )
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
