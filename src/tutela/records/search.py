"""Finding records: free text, exact ids, filters, keyset paging, fuzzy names, duplicates.

Every query here is built to use an index at a million records: the GIN indexes on the search
vector, the name keys and the form data, and the B-tree indexes on owner, status and dates.
"""

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import CharField, DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Concat

from tutela.configuration.forms import FormDefinition, get_form
from tutela.encryption import envelope
from tutela.encryption import search as sealed_search
from tutela.encryption.policy import policy_of_form
from tutela.lib import names
from tutela.records.derived import fold_for_search
from tutela.records.models import Record

SHORT_ID = re.compile(r"^[2-9A-HJ-KM-NP-Z]{3}-?[2-9A-HJ-KM-NP-Z]{4}$", re.IGNORECASE)
SORTS = {
    "updated": ("updated_at", True),
    "-updated": ("updated_at", False),
    "created": ("created_at", True),
    "-created": ("created_at", False),
    "short_id": ("short_id", False),
    "name": ("display_name", False),
}
# How many name-key candidates are ranked in Python for one fuzzy search.
FUZZY_CANDIDATES = 400


class SearchError(ValueError):
    """A search parameter is invalid; the message names it and the fix."""


@dataclass
class Page:
    records: list[Record]
    next_cursor: str | None


@dataclass
class Criteria:
    record_type: str
    text: str = ""
    status: str | None = None
    owner_id: int | None = None
    agency_id: int | None = None
    include_disabled: bool = False
    # {field name: option id or list of ids} for select, radio and tick-box fields.
    selects: dict[str, Any] = field(default_factory=dict)
    # {field name: (from, to)} as ISO dates, either end may be None.
    dates: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    updated_from: dt.datetime | None = None
    updated_to: dt.datetime | None = None
    sort: str = "updated"
    # The records the searching user may see (see tutela.access.permissions); empty means all.
    scope: Q = field(default_factory=Q)
    # Conditions whose union is `scope`, such as one owner each; empty when there are none.
    # A page sorted by a date is then read one condition at a time from the owner index and
    # merged, where one query would walk the date index past every record out of scope.
    scope_parts: list[Q] = field(default_factory=list)


def base_queryset(criteria: Criteria, form: FormDefinition) -> QuerySet[Record]:
    records = Record.objects.filter(record_type=form.record_type).filter(criteria.scope)
    if not criteria.include_disabled:
        records = records.filter(disabled=False)
    if criteria.status:
        records = records.filter(status=criteria.status)
    if criteria.owner_id is not None:
        records = records.filter(owner_id=criteria.owner_id)
    if criteria.agency_id is not None:
        records = records.filter(agency_id=criteria.agency_id)
    if criteria.updated_from:
        records = records.filter(updated_at__gte=criteria.updated_from)
    if criteria.updated_to:
        records = records.filter(updated_at__lt=criteria.updated_to)
    records = _filter_selects(records, criteria.selects, form)
    return _filter_dates(records, criteria.dates, form)


def _filter_selects(
    records: QuerySet[Record], selects: dict[str, Any], form: FormDefinition
) -> QuerySet[Record]:
    for name, wanted in selects.items():
        field_def = form.fields.get(name)
        if field_def is None or field_def.type not in ("select", "radio", "tick_box", "location"):
            raise SearchError(f"{name!r} is not a select, radio, tick box or location field.")
        values = wanted if isinstance(wanted, list) else [wanted]
        multi = bool(field_def.spec.get("multi"))
        # data @> {"name": value} uses the jsonb_path_ops GIN index; for a multi-select the
        # stored value is a list, so the containment is {"name": [value]}.
        condition = Q()
        for value in values:
            condition |= Q(data__contains={name: [value] if multi else value})
        records = records.filter(condition)
    return records


def _filter_dates(
    records: QuerySet[Record], dates: dict[str, tuple[str | None, str | None]], form: FormDefinition
) -> QuerySet[Record]:
    for name, (start, end) in dates.items():
        field_def = form.fields.get(name)
        if field_def is None or field_def.type not in ("date", "date_time"):
            raise SearchError(f"{name!r} is not a date field.")
        for bound in (start, end):
            if bound is not None:
                try:
                    dt.date.fromisoformat(bound[:10])
                except ValueError:
                    raise SearchError(f"{bound!r} is not a date; use YYYY-MM-DD.") from None
        # ISO dates compare correctly as text.
        if start:
            records = records.filter(**{f"data__{name}__gte": start})
        if end:
            records = records.filter(**{f"data__{name}__lte": end})
    return records


def exact_match(text: str, record_type: str) -> QuerySet[Record] | None:
    """Return the records a text names exactly (UUID, short id), or None if it is no id."""
    candidate = text.strip()
    try:
        return Record.objects.filter(pk=uuid.UUID(candidate), record_type__unique_id=record_type)
    except ValueError:
        pass
    if SHORT_ID.match(candidate):
        compact = candidate.upper().replace("-", "")
        return Record.objects.filter(
            short_id=f"{compact[:3]}-{compact[3:]}", record_type__unique_id=record_type
        )
    return None


def id_number_match(text: str, form: FormDefinition) -> Q:
    """Return a condition matching records whose id-number fields equal `text`.

    Id-number fields that are searchable and not sensitive need none: their words are in the
    search vector already. The condition makes PostgreSQL read the form data of candidates,
    so leaving it out where it is not needed keeps searches fast at a million records.
    """
    condition = Q()
    for name in form.semantic.get("id_number", []):
        field_def = form.fields.get(name)
        if name in policy_of_form(form).fields:
            # Stored encrypted: found through search_tokens (text_condition) instead.
            continue
        if field_def is None or field_def.sensitive or not field_def.searchable:
            condition |= Q(data__contains={name: text.strip()})
    return condition


def _unindexed(column: str) -> Any:
    """`column` as an expression that no B-tree index serves, in the same order.

    Sorting a free-text or name search by an indexed column lets PostgreSQL walk that index
    newest first and test every row against the search until a page is full: for a rare word
    at a million records it tests most of them. Sorting by an expression instead makes it take
    the matches from the GIN index first and sort only those.
    """
    if column.endswith("_at"):
        return ExpressionWrapper(F(column) + Value(dt.timedelta(0)), output_field=DateTimeField())
    return Concat(F(column), Value(""), output_field=CharField())


def search(criteria: Criteria, *, limit: int = 25, cursor: str | None = None) -> Page:
    """Return one page of records matching `criteria`, sorted, with a cursor for the next."""
    form = get_form(criteria.record_type)
    records = base_queryset(criteria, form)

    text = criteria.text.strip()
    if text:
        exact = exact_match(text, criteria.record_type)
        if exact is not None:
            found = list(exact.filter(pk__in=records.values("pk")))
            # Seven letters can be a short id or a word ("sanchez"): without a record of that
            # id, the text is searched as words.
            if found or not text.replace("-", "").isalpha():
                return Page(found, None)
        query = text_query(text)
        id_condition = id_number_match(text, form)
        condition = (
            Q(search_vector=query) | id_condition if id_condition else Q(search_vector=query)
        )
        sealed = sealed_search.text_condition(fold_for_search(text), form)
        records = records.filter(condition | sealed if sealed else condition)

    if criteria.sort not in SORTS:
        raise SearchError(f"{criteria.sort!r} is not a sort order; use {', '.join(SORTS)}.")
    column, descending = SORTS[criteria.sort]
    if column == "display_name" and policy_of_form(form).names:
        raise SearchError(
            "Records cannot be sorted by name because names are stored encrypted; "
            "sort by updated, created or short_id."
        )
    records = _after_cursor(records, cursor, column, descending)
    key = _unindexed(column) if text else F(column)
    order = (key.desc(), F("id").desc()) if descending else (key.asc(), F("id").asc())
    if criteria.scope_parts and column.endswith("_at"):
        page = _first_rows_by_part(
            records, order, limit + 1, criteria.scope_parts, column, descending
        )
    else:
        page = list(records.order_by(*order)[: limit + 1])

    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        next_cursor = encode_cursor(getattr(last, column), last.pk)
    return Page(page, next_cursor)


def _first_rows_by_part(
    records: QuerySet[Record],
    order: tuple[Any, ...],
    count: int,
    parts: list[Q],
    column: str,
    descending: bool,
) -> list[Record]:
    """Return the first `count` records of `records` in `order` (by `column`, then id), one
    query per part of the user's scope, merged.

    Every part is also filtered by the whole scope, which `records` carries, so a part can never
    widen it. Only date columns are merged in Python: text would sort by the database's
    collation, which Python does not share.
    """
    # Only keys first: reading a whole record costs far more than finding it.
    keys: set[tuple[Any, Any]] = set()
    for part in parts:
        keys.update(records.filter(part).order_by(*order).values_list(column, "pk")[:count])
    # PostgreSQL orders uuids byte by byte, as Python orders UUID objects.
    chosen = [pk for _, pk in sorted(keys, reverse=descending)[:count]]
    found = records.in_bulk(chosen)
    return [found[pk] for pk in chosen if pk in found]


def text_query(text: str) -> SearchQuery:
    folded = fold_for_search(text)
    plain = SearchQuery(folded, config="simple", search_type="websearch")
    stemmed = SearchQuery(folded, config=settings.TUTELA_SEARCH_LANGUAGE, search_type="websearch")
    return plain | stemmed


def encode_cursor(value: Any, pk: uuid.UUID) -> str:
    raw = json.dumps([value.isoformat() if hasattr(value, "isoformat") else value, str(pk)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after_cursor(
    records: QuerySet[Record], cursor: str | None, column: str, descending: bool
) -> QuerySet[Record]:
    if not cursor:
        return records
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded))
        pk = uuid.UUID(pk)
        if column.endswith("_at"):
            value = dt.datetime.fromisoformat(value)
    except (ValueError, TypeError, binascii.Error):
        raise SearchError("The page cursor is invalid; start again from the first page.") from None
    if descending:
        return records.filter(Q(**{f"{column}__lt": value}) | Q(**{column: value, "pk__lt": pk}))
    return records.filter(Q(**{f"{column}__gt": value}) | Q(**{column: value, "pk__gt": pk}))


def ranked_text_search(criteria: Criteria, limit: int = 25) -> list[Record]:
    """Return the best matches of a free-text search by relevance (no paging)."""
    form = get_form(criteria.record_type)
    query = text_query(criteria.text)
    sealed = sealed_search.text_condition(fold_for_search(criteria.text), form)
    return list(
        base_queryset(criteria, form)
        .filter(Q(search_vector=query) | sealed if sealed else Q(search_vector=query))
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-updated_at")[:limit]
    )


@dataclass
class NameMatch:
    record: Record
    score: float


def name_condition(query: str) -> Q | None:
    groups = names.query_key_groups(query)
    if not groups:
        return None
    condition = Q()
    for keys in groups:
        # Records of types whose names are sensitive store keyed hashes of the keys.
        hashed = sealed_search.hashed_name_keys(keys) if envelope.enabled() else []
        condition &= Q(name_keys__overlap=[*keys, *hashed])
    return condition


def find_by_name(
    record_type: str, query: str, *, limit: int = 25, records: QuerySet[Record] | None = None
) -> list[NameMatch]:
    """Fuzzy name search: spelling variants, either script, any word order."""
    condition = name_condition(query)
    if condition is None:
        return []
    if records is None:
        records = Record.objects.filter(record_type__unique_id=record_type, disabled=False)
    # Rank the names of the newest candidates first, then read the best records whole: their
    # form data is large, and most candidates are not shown.
    candidates = (
        records.filter(condition)
        .order_by(_unindexed("updated_at").desc())
        .values_list("pk", "display_name")[:FUZZY_CANDIDATES]
    )
    scores = {pk: names.similarity(query, display_name) for pk, display_name in candidates}
    best = sorted(scores, key=lambda pk: scores[pk], reverse=True)[:limit]
    found = Record.objects.in_bulk(best)
    return [NameMatch(found[pk], scores[pk]) for pk in best if pk in found]


@dataclass
class DuplicateCandidate:
    record: Record
    score: float
    reasons: list[str]


def find_duplicates(
    record_type: str, values: dict[str, Any], *, limit: int = 10, scope: Q | None = None
) -> list[DuplicateCandidate]:
    """Return existing records that may be the same child as `values`, best first.

    Names must match phonetically; sex, birth year (from the date of birth or age) and
    location raise or lower the score.
    """
    from tutela.records import derived

    form = get_form(record_type)
    probe = Record(record_type=form.record_type, data=values, created_at=_now())
    derived.refresh(probe, form)
    if not probe.display_name:
        return []
    records = Record.objects.filter(record_type=form.record_type, disabled=False)
    # NOTE: candidates outside the user's scope are not shown, so a duplicate registered by
    # another agency goes unnoticed here; a cross-agency check needs a rule on what to reveal.
    records = records.filter(scope or Q())
    if probe.match_sex:
        records = records.filter(Q(match_sex=probe.match_sex) | Q(match_sex=""))
    if probe.match_birth_year:
        year = probe.match_birth_year
        records = records.filter(
            Q(match_birth_year__range=(year - 2, year + 2)) | Q(match_birth_year__isnull=True)
        )

    candidates = []
    for match in find_by_name(record_type, probe.display_name, limit=50, records=records):
        reasons = ["name"]
        score = match.score * 0.7
        other = match.record
        if probe.match_sex and other.match_sex == probe.match_sex:
            score += 10
            reasons.append("sex")
        if probe.match_birth_year and other.match_birth_year == probe.match_birth_year:
            score += 10
            reasons.append("age")
        if probe.match_location and other.match_location == probe.match_location:
            score += 10
            reasons.append("location")
        if score >= 60:
            candidates.append(DuplicateCandidate(other, round(score, 1), reasons))
    candidates.sort(key=lambda c: c.score, reverse=True)
    return candidates[:limit]


def _now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()
