"""Saved searches: a user names the list's current search and filters to run them again."""

from django.db import transaction
from django.utils import timezone

from tutela.access.models import User
from tutela.audit.log import record_event
from tutela.web.models import SavedSearch


def save_search(
    user: User, record_type: str, name: str, mode: str, text: str, filters: dict[str, str]
) -> SavedSearch:
    """Save (or replace, under the same name) a search of `user`'s."""
    with transaction.atomic():
        saved, created = SavedSearch.objects.update_or_create(
            user=user,
            record_type=record_type,
            name=name,
            defaults={"mode": mode, "text": text, "filters": filters, "created_at": timezone.now()},
        )
        # The filters' names only: the name and text the user chose may name a child.
        record_event(
            "saved_search.create" if created else "saved_search.replace",
            user=user,
            object_type="saved_search",
            object_id=saved.pk,
            details={"record_type": record_type, "mode": mode, "filters": sorted(filters)},
        )
    return saved


def delete_search(saved: SavedSearch) -> None:
    with transaction.atomic():
        record_event(
            "saved_search.delete",
            user=saved.user,
            object_type="saved_search",
            object_id=saved.pk,
            details={"record_type": saved.record_type},
        )
        saved.delete()
