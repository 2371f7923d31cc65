"""Synthetic cases: reproducible, complete, valid for the default configuration, findable."""

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tutela.configuration.forms import get_form
from tutela.configuration.loading import load_configuration, read_document
from tutela.configuration.locations import load_locations
from tutela.configuration.management.commands.config import DEFAULT_DIR
from tutela.lib import names
from tutela.records import derived, synthetic
from tutela.records.actions import diff
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.search import find_duplicates

CASES = 1000


def load_default_configuration() -> None:
    load_configuration(read_document(DEFAULT_DIR / "configuration.json"))
    load_locations(DEFAULT_DIR / "locations.csv")


@pytest.fixture
def default_config(db: None) -> None:
    load_default_configuration()


@pytest.fixture
def context(default_config: None) -> synthetic.Context:
    return synthetic.load_context(synthetic.ensure_caseworkers(4))


@pytest.fixture(scope="class")
def seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[synthetic.SeedSummary]:
    """One caseload shared by the read-only tests of a class, rolled back after them."""
    with django_db_blocker.unblock(), transaction.atomic():
        load_default_configuration()
        context = synthetic.load_context(synthetic.ensure_caseworkers(4))
        yield synthetic.seed_cases(context, CASES, 11, batch_size=400)
        transaction.set_rollback(True)


def generated(context: synthetic.Context, seed: int) -> list[tuple[Any, ...]]:
    cases = synthetic.Generator(context, seed, set()).batch(200)
    return [
        (c.record.id, c.record.short_id, c.record.data, c.record.updated_at, c.record.owner_id)
        for c in cases
    ]


def test_same_seed_same_cases(context: synthetic.Context) -> None:
    assert generated(context, 5) == generated(context, 5)


def test_other_seed_other_cases(context: synthetic.Context) -> None:
    assert generated(context, 5)[0] != generated(context, 6)[0]


@pytest.mark.django_db
class TestSeededCaseload:
    """Read-only checks of one seeded caseload of the default configuration."""

    def test_seed_writes_cases(self, seeded: synthetic.SeedSummary) -> None:
        assert Record.objects.filter(record_type__unique_id="case").count() == CASES

    def test_one_history_row_per_case(self, seeded: synthetic.SeedSummary) -> None:
        assert RecordHistory.objects.filter(action="create", version=1).count() == CASES

    def test_history_changes_match_diff(self, seeded: synthetic.SeedSummary) -> None:
        for history in RecordHistory.objects.select_related("record")[:50]:
            assert history.changes == diff({}, history.record.data)
            assert history.user_id == history.record.created_by_id
            assert history.at == history.record.created_at

    def test_summary_counts(self, seeded: synthetic.SeedSummary) -> None:
        closed = Record.objects.filter(status=Status.CLOSED).count()
        assert seeded.cases == CASES
        assert seeded.closed == closed
        assert seeded.history_rows == CASES

    def test_derived_columns_match_refresh(self, seeded: synthetic.SeedSummary) -> None:
        form = get_form("case")
        for stored in Record.objects.order_by("short_id")[:100]:
            fresh = Record(data=stored.data, created_at=stored.created_at, short_id=stored.short_id)
            derived.refresh(fresh, form)
            assert stored.display_name == fresh.display_name
            assert stored.name_keys == fresh.name_keys
            assert stored.registration_date == fresh.registration_date
            assert stored.match_sex == fresh.match_sex
            assert stored.match_location == fresh.match_location
            assert stored.match_birth_year == fresh.match_birth_year

    def test_search_vector_matches_save(self, seeded: synthetic.SeedSummary) -> None:
        form = get_form("case")
        for stored in Record.objects.order_by("short_id")[:100]:
            text = derived.searchable_text(stored, form)
            expected = (
                Record.objects.filter(pk=stored.pk)
                .annotate(expected=derived.search_vector_expression(text))
                .values_list("expected", flat=True)
                .get()
            )
            assert stored.search_vector == expected

    def test_sample_passes_validation(self, seeded: synthetic.SeedSummary) -> None:
        form = get_form("case")
        for record in Record.objects.order_by("short_id")[:300]:
            assert synthetic.check_case(form, record.data) == [], record.short_id

    def test_closed_cases_pass_validation(self, seeded: synthetic.SeedSummary) -> None:
        form = get_form("case")
        for record in Record.objects.filter(status=Status.CLOSED)[:100]:
            assert "closure_date" in record.data
            assert synthetic.check_case(form, record.data) == [], record.short_id

    def test_near_duplicates_found(self, seeded: synthetic.SeedSummary) -> None:
        assert len(seeded.duplicate_pairs) >= 10
        for original, duplicate in seeded.duplicate_pairs:
            values = Record.objects.get(pk=duplicate).data
            found = {candidate.record.pk for candidate in find_duplicates("case", values)}
            assert original in found, (original, duplicate)

    def test_near_duplicate_share(self, seeded: synthetic.SeedSummary) -> None:
        assert 0.01 * CASES <= seeded.near_duplicates <= 0.035 * CASES

    def test_names_in_both_scripts(self, seeded: synthetic.SeedSummary) -> None:
        first_names = list(Record.objects.values_list("data__name_first", flat=True))
        arabic = [name for name in first_names if names.ARABIC_LETTERS.search(name)]
        assert 0.03 * CASES < len(arabic) < 0.3 * CASES

    def test_registrations_spread_over_years(self, seeded: synthetic.SeedSummary) -> None:
        dates = list(Record.objects.values_list("registration_date", flat=True))
        today = timezone.localdate()
        assert max(dates) < today
        assert (today - min(dates)).days > 4 * 365

    def test_updates_not_in_the_future(self, seeded: synthetic.SeedSummary) -> None:
        assert not Record.objects.filter(updated_at__lt=F("created_at")).exists()
        assert max(Record.objects.values_list("updated_at", flat=True)) < dt.datetime.now(dt.UTC)

    def test_ages_zero_to_seventeen(self, seeded: synthetic.SeedSummary) -> None:
        ages = Counter(Record.objects.values_list("data__age", flat=True))
        assert min(ages) == 0
        assert max(ages) == 17

    def test_owners_spread_over_caseworkers(self, seeded: synthetic.SeedSummary) -> None:
        owners = Counter(Record.objects.values_list("owner__username", flat=True))
        assert len(owners) == 4
        assert min(owners.values()) > CASES / 8

    def test_subform_rows_written(self, seeded: synthetic.SeedSummary) -> None:
        for subform in ("services", "follow_ups", "family_members", "case_plan_goals"):
            assert Record.objects.filter(data__has_key=subform).count() > CASES / 10, subform

    def test_cases_open_and_closed(self, seeded: synthetic.SeedSummary) -> None:
        statuses = Counter(Record.objects.values_list("status", flat=True))
        assert statuses[Status.OPEN] > CASES / 5
        assert statuses[Status.CLOSED] > CASES / 5


def test_command_writes_and_counts(context: synthetic.Context) -> None:
    out = StringIO()
    call_command("seed", "synthetic", "--cases", "30", "--seed", "2", stdout=out, stderr=StringIO())
    assert "Wrote 30 synthetic cases" in out.getvalue()


def test_command_rejects_repeated_seed(context: synthetic.Context) -> None:
    call_command("seed", "synthetic", "--cases", "5", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="already exist"):
        call_command("seed", "synthetic", "--cases", "5", stdout=StringIO(), stderr=StringIO())


def test_command_names_unknown_owner(context: synthetic.Context) -> None:
    with pytest.raises(CommandError, match="nobody"):
        call_command("seed", "synthetic", "--cases", "5", "--owner", "nobody")


def test_command_without_configuration(db: None) -> None:
    with pytest.raises(CommandError, match="load-default"):
        call_command("seed", "synthetic", "--cases", "5")


def test_typo_undoes_doubled_letter() -> None:
    assert synthetic.typo("Hassan", 0) == "Hasan"


def test_typo_changes_a_vowel() -> None:
    assert synthetic.typo("Yusuf", 0) == "Yosuf"
