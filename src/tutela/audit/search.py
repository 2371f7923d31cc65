"""Finding audit entries for the audit screens and writing them as JSON lines.

Filters come from the address of the audit log screen. They hold usernames, action codes and
object ids, never free text, so they may appear in the address and in the audit entry that
records the search.
"""

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from tutela.audit.log import hashed_fields
from tutela.audit.models import AuditEntry, Outcome

PAGE_SIZE = 50
FILTER_NAMES = ("start", "end", "actor", "action", "object_type", "object_id", "outcome")


@dataclass
class AuditFilters:
    """The filters of the audit log screen, parsed; `errors` lists the invalid ones."""

    start: dt.date | None = None
    end: dt.date | None = None
    actor: str = ""
    # An action code such as `case.view`, or a prefix ending in `*` such as `case.*`.
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""
    errors: list[str] = field(default_factory=list)

    def used(self) -> dict[str, str]:
        """Return the filters set, as text, for the address and the audit entry."""
        values = {name: getattr(self, name) for name in FILTER_NAMES}
        return {name: str(value) for name, value in values.items() if value}


def parse_day(name: str, text: str, errors: list[str]) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(
            _("%(name)s: %(value)s is not a date; write it as YYYY-MM-DD.")
            % {"name": name, "value": text}
        )
        return None


def parse_filters(query: Mapping[str, str]) -> AuditFilters:
    """Read the filters from a query string; invalid values are listed in `errors`."""
    errors: list[str] = []
    filters = AuditFilters(
        start=parse_day(_("From"), query.get("start", "").strip(), errors),
        end=parse_day(_("To"), query.get("end", "").strip(), errors),
        actor=query.get("actor", "").strip()[:150],
        action=query.get("action", "").strip()[:60],
        object_type=query.get("object_type", "").strip()[:60],
        object_id=query.get("object_id", "").strip()[:100],
        outcome=query.get("outcome", "").strip(),
        errors=errors,
    )
    if filters.outcome and filters.outcome not in Outcome.values:
        errors.append(
            _("Outcome: %(value)s is not one of %(choices)s.")
            % {"value": filters.outcome, "choices": ", ".join(Outcome.values)}
        )
    if filters.start and filters.end and filters.start > filters.end:
        errors.append(_("From is after To; swap the two dates."))
    return filters


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def filtered_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """Return the entries that match `filters`, newest first. Dates are UTC days."""
    entries = AuditEntry.objects.all()
    if filters.start:
        entries = entries.filter(at__gte=day_start(filters.start))
    if filters.end:
        entries = entries.filter(at__lt=day_start(filters.end) + dt.timedelta(days=1))
    if filters.actor:
        entries = entries.filter(actor=filters.actor)
    if filters.action.endswith("*"):
        entries = entries.filter(action__startswith=filters.action[:-1])
    elif filters.action:
        entries = entries.filter(action=filters.action)
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    return entries.order_by("-id")


def record_entries(record_type: str, record_id: uuid.UUID) -> QuerySet[AuditEntry]:
    """Return the entries about one record, newest first: views, changes and its files."""
    about_record = Q(object_type=record_type, object_id=str(record_id))
    # Uploads and downloads name the attachment as object; its record is in the details.
    about_files = Q(object_type="attachment", details__record=str(record_id))
    return AuditEntry.objects.filter(about_record | about_files).order_by("-id")


@dataclass
class Page:
    entries: list[AuditEntry]
    # The id to pass as `before` for the next, older page; None on the last page.
    older: int | None


def keyset_page(entries: QuerySet[AuditEntry], before: str, size: int = PAGE_SIZE) -> Page:
    """Return one page of `entries` (ordered newest first) older than the id `before`."""
    if before.isdigit():
        entries = entries.filter(id__lt=int(before))
    rows = list(entries[: size + 1])
    older = rows[size - 1].id if len(rows) > size else None
    return Page(rows[:size], older)


def export_line(entry: AuditEntry) -> str:
    """Return one entry as a JSON line with every hashed field and both hashes."""
    line: dict[str, Any] = {**hashed_fields(entry), "previous_hash": entry.previous_hash}
    line["hash"] = entry.hash
    return json.dumps(line, ensure_ascii=False) + "\n"


def export_lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    """Yield the entries oldest first, as JSON lines, reading them in chunks."""
    for entry in entries.order_by("id").iterator(chunk_size=2000):
        yield export_line(entry)
