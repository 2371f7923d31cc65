"""Which records a user may see.

NOTE: until roles with scopes (user, group, agency, all) exist, a caseworker may see the records
they own and those of their agency, and staff users may see all records.
"""

from django.db.models import Q

from tutela.access.models import User
from tutela.records.models import Record


def sees_everything(user: User) -> bool:
    return user.is_staff or user.is_superuser


def record_scope(user: User) -> Q:
    """Return a condition on Record that is true for the records `user` may see."""
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
