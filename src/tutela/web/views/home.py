"""The home page: my open cases, the records I viewed lately, and counts by status."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tutela.access.models import User
from tutela.access.permissions import record_scope, scope_by_type
from tutela.records.models import Record, Status
from tutela.web.decorators import signed_in
from tutela.web.kinds import CASE, Kind, kinds
from tutela.web.models import RecentView
from tutela.web.views.records import signed_in_user

LATEST_CASES = 5
RECENT_SHOWN = 8
# Counting every record in scope reads many index entries at a million records; the counts
# may be this many seconds old, also after the user's role or groups change.
COUNTS_MAX_AGE = 60


@dataclass
class TypeCounts:
    kind: Kind
    open: int
    closed: int


@require_GET
@signed_in
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    configured = kinds()
    case_kind = next((k for k in configured if k.unique_id == CASE), None)
    my_open = Record.objects.filter(
        record_scope(user, CASE),
        record_type__unique_id=CASE,
        owner=user,
        status=Status.OPEN,
        disabled=False,
    )
    return render(
        request,
        "web/home.html",
        {
            "kinds": configured,
            "case_kind": case_kind,
            "my_open_cases": my_open.count(),
            "latest_cases": list(my_open.order_by("-updated_at")[:LATEST_CASES]),
            "recent": recently_viewed(user, configured),
            "counts": type_counts(user, configured),
        },
    )


def recently_viewed(user: User, configured: list[Kind]) -> list[Record]:
    """Return the records `user` opened lately, latest first, among those they may still see."""
    visible = Record.objects.filter(scope_by_type(user, [k.unique_id for k in configured]))
    views = (
        RecentView.objects.filter(user=user, record__in=visible.values("pk"))
        .select_related("record__record_type")
        .order_by("-viewed_at")[:RECENT_SHOWN]
    )
    return [view.record for view in views]


def type_counts(user: User, configured: list[Kind]) -> list[TypeCounts]:
    """Open and closed records of each type that `user` may see, disabled ones left out."""
    key = f"tutela.home.counts.{user.pk}"
    counts: dict[tuple[str, str], int] | None = cache.get(key)
    if counts is None:
        rows = (
            Record.objects.filter(
                scope_by_type(user, [k.unique_id for k in configured]), disabled=False
            )
            .values_list("record_type__unique_id", "status")
            .annotate(number=Count("pk"))
            .order_by()
        )
        counts = {(record_type, status): number for record_type, status, number in rows}
        cache.set(key, counts, COUNTS_MAX_AGE)
    return [
        TypeCounts(
            kind,
            counts.get((kind.unique_id, Status.OPEN.value), 0),
            counts.get((kind.unique_id, Status.CLOSED.value), 0),
        )
        for kind in configured
    ]
