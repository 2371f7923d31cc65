"""Property test of record scope: generated roles, users, groups, records and referrals.

Each example builds a small site, then for every (user, record) pair compares what the
database query built from `record_scope` (and `scope_by_type`, which the home counts use)
returns with what a plain-Python reading of the rules says. One pair and one query is one
check; the test counts them and asserts that at least MIN_CHECKS ran.
"""

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tutela.access.models import Agency, Referral, Role, User, UserGroup
from tutela.access.permissions import record_scope, record_scope_parts, scope_by_type
from tutela.configuration.models import RecordType
from tutela.records.models import Record

pytestmark = pytest.mark.usefixtures("sample_config")

MIN_CHECKS = 10_000
EXAMPLES = 80
RECORD_TYPES = ("case", "incident")
SCOPES = ("own", "group", "agency", "all")
AGENCIES = 2
GROUPS = 3


@dataclass
class UserSpec:
    agency: int | None
    groups: set[int]
    scope: str
    reads: set[str]
    role_disabled: bool
    has_role: bool
    active: bool
    superuser: bool


@dataclass
class RecordSpec:
    record_type: str
    owner: int | None
    agency: int | None


users_strategy = st.builds(
    UserSpec,
    agency=st.one_of(st.none(), st.integers(0, AGENCIES - 1)),
    groups=st.sets(st.integers(0, GROUPS - 1), max_size=2),
    scope=st.sampled_from(SCOPES),
    reads=st.sets(st.sampled_from(RECORD_TYPES)),
    role_disabled=st.sampled_from([False, False, False, True]),
    has_role=st.sampled_from([True, True, True, False]),
    active=st.sampled_from([True, True, True, False]),
    superuser=st.sampled_from([False] * 9 + [True]),
)


@st.composite
def sites(draw: Any) -> tuple[list[UserSpec], list[RecordSpec], set[tuple[int, int]], set[int]]:
    users = draw(st.lists(users_strategy, min_size=4, max_size=8))
    owners = st.one_of(st.none(), st.integers(0, len(users) - 1))
    records = draw(
        st.lists(
            st.builds(
                RecordSpec,
                record_type=st.sampled_from(RECORD_TYPES),
                owner=owners,
                agency=st.one_of(st.none(), st.integers(0, AGENCIES - 1)),
            ),
            min_size=20,
            max_size=40,
        )
    )
    referrals = draw(
        st.sets(st.tuples(st.integers(0, len(records) - 1), st.integers(0, len(users) - 1)))
    )
    disabled_groups = draw(st.sets(st.integers(0, GROUPS - 1), max_size=1))
    return users, records, referrals, disabled_groups


def oracle(
    users: list[UserSpec],
    records: list[RecordSpec],
    referrals: set[tuple[int, int]],
    disabled_groups: set[int],
    u: int,
    r: int,
) -> bool:
    """Whether user `u` may read record `r`, read from the rules in plain Python."""
    user, record = users[u], records[r]
    if not user.active:
        return False
    if user.superuser:
        return True
    if not user.has_role or user.role_disabled or record.record_type not in user.reads:
        return False
    if user.scope == "all" or record.owner == u or (r, u) in referrals:
        return True
    if user.scope == "group" and record.owner is not None:
        mine = user.groups - disabled_groups
        return bool(mine & (users[record.owner].groups))
    if user.scope == "agency":
        return user.agency is not None and record.agency == user.agency
    return False


checks = itertools.count()


def build_site(
    users: list[UserSpec],
    records: list[RecordSpec],
    referrals: set[tuple[int, int]],
    disabled_groups: set[int],
) -> tuple[list[User], list[Record]]:
    agencies = [
        Agency.objects.create(unique_id=f"p-agency-{i}", name={"en": "A"}) for i in range(AGENCIES)
    ]
    groups = [
        UserGroup.objects.create(
            unique_id=f"p-group-{i}", name={"en": "G"}, disabled=i in disabled_groups
        )
        for i in range(GROUPS)
    ]
    rows = []
    for n, spec in enumerate(users):
        role = None
        if spec.has_role:
            role = Role.objects.create(
                unique_id=f"p-role-{n}",
                permissions={t: ["read"] for t in spec.reads},
                record_scope=spec.scope,
                disabled=spec.role_disabled,
            )
        user = User.objects.create(
            username=f"p-user-{n}",
            agency=agencies[spec.agency] if spec.agency is not None else None,
            role=role,
            is_active=spec.active,
            is_superuser=spec.superuser,
        )
        user.user_groups.set([groups[g] for g in spec.groups])
        rows.append(user)

    types = {rt.unique_id: rt for rt in RecordType.objects.filter(unique_id__in=RECORD_TYPES)}
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    saved = Record.objects.bulk_create(
        Record(
            id=uuid.uuid4(),
            record_type=types[spec.record_type],
            short_id=f"P{n:06d}",
            owner=rows[spec.owner] if spec.owner is not None else None,
            agency=agencies[spec.agency] if spec.agency is not None else None,
            created_at=now,
            updated_at=now,
        )
        for n, spec in enumerate(records)
    )
    Referral.objects.bulk_create(
        Referral(record=saved[r], recipient=rows[u], referred_at=now) for r, u in referrals
    )
    return rows, saved


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(site=sites())
def scope_has_no_leak(
    site: tuple[list[UserSpec], list[RecordSpec], set[tuple[int, int]], set[int]],
) -> None:
    users, records, referrals, disabled_groups = site
    with transaction.atomic():
        rows, saved = build_site(users, records, referrals, disabled_groups)
        index = {record.pk: n for n, record in enumerate(saved)}
        for u, user in enumerate(rows):
            # A fresh instance, as each request loads its user.
            user = User.objects.select_related("role").get(pk=user.pk)
            expected = {
                r
                for r in range(len(records))
                if oracle(users, records, referrals, disabled_groups, u, r)
            }
            every_type = Record.objects.filter(pk__in=index).filter(
                scope_by_type(user, RECORD_TYPES)
            )
            assert {index[pk] for pk in every_type.values_list("pk", flat=True)} == expected
            for record_type in RECORD_TYPES:
                query = Record.objects.filter(
                    record_scope(user, record_type),
                    pk__in=index,
                    record_type__unique_id=record_type,
                )
                found = {index[pk] for pk in query.values_list("pk", flat=True)}
                wanted = {r for r in expected if records[r].record_type == record_type}
                assert found == wanted, (u, record_type, users[u])
                # The parts a group's list reads one by one cover the scope exactly.
                parts = record_scope_parts(user, record_type)
                if parts:
                    union = set()
                    for part in parts:
                        union |= {
                            index[pk] for pk in query.filter(part).values_list("pk", flat=True)
                        }
                    assert union == wanted, (u, record_type, "parts")
            # Each pair was checked twice: once by type, once across types.
            for _ in range(2 * len(records)):
                next(checks)
        transaction.set_rollback(True)


def test_record_scope_has_no_leak(db: None) -> None:
    start = next(checks)
    scope_has_no_leak()
    ran = next(checks) - start - 1
    assert ran >= MIN_CHECKS, f"only {ran} checks ran"
