"""Which records a user may see.

NOTE: roles and their scopes (user, group, agency, all) come with the access issue; until then a
caseworker sees the records they own and those of their agency, and staff users see all.
"""

from django.db.models import Q

from tutela.access.models import User
from tutela.records.models import Record


def sees_everything(user: User) -> bool:
    return user.is_staff or user.is_superuser


def record_scope(user: User) -> Q:
    """A condition on Record that holds for the records `user` may see."""
    if sees_everything(user):
        return Q()
    condition = Q(owner_id=user.pk)
    if user.agency_id is not None:
        condition |= Q(agency_id=user.agency_id)
    return condition


def can_view_record(user: User, record: Record) -> bool:
    if sees_everything(user) or record.owner_id == user.pk:
        return True
    return user.agency_id is not None and record.agency_id == user.agency_id
