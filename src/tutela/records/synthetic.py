"""Synthetic cases for demo sites, tests and benchmarks (`tutela seed synthetic`).

The cases are fake but shaped like a real caseload of the default configuration. They have
names from several regions in Latin and Arabic script, ages 0 to 17, locations from the location
tree, protection concerns and risk levels, and subform rows for family members, plan goals,
services and follow-ups. Some cases are closed, and about 2% are near-duplicates: the same child
registered again with a spelling variant, swapped names or the other script. The same seed and
as-of date give the same data.

Only for demo and test sites: the records look real, and nothing marks them as synthetic.

Steps:
1. read what generation needs from the database once: the case form, the location codes and
   the caseworkers who will own the cases;
2. generate cases in Python from one random stream, and fill the derived columns with the
   functions a normal save uses (derived.refresh, derived.searchable_text);
3. write each batch in one transaction. The records go by COPY into a temporary staging table
   and from there into the record table, with the search vector computed by to_tsvector from
   the staged text as derived.store_search_vector does. One "create" history row per case
   goes in by COPY. A thread generates the next batch while PostgreSQL writes one;
4. at the end, merge the pending entries of the GIN indexes and refresh the planner's
   statistics, so that searches are fast at once.
"""

import datetime as dt
import json
import math
import random
import time
import uuid
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from tutela.access.models import Agency, User
from tutela.access.synthetic import assign_synthetic_access
from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import Location
from tutela.encryption.fields import policy_of_instance
from tutela.encryption.policy import seal_changes
from tutela.lib import names
from tutela.records import derived
from tutela.records import synthetic_data as names_data
from tutela.records.actions import SHORT_ID_ALPHABET, SHORT_ID_LENGTH, diff
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.validation import RecordInvalid, calculate, clean_changes

RECORD_TYPE = "case"
SYNTHETIC_AGENCY = "synthetic-agency"
CASEWORKER_PREFIX = "synthetic-caseworker-"
YEARS_OF_REGISTRATIONS = 6
NEAR_DUPLICATE_SHARE = 0.02
# How many earlier children a near-duplicate is drawn from (a random sample of them).
RECENT_CHILDREN = 5000
STAGING_TABLE = "tutela_synthetic_staging"

# Age at registration: adolescents are the larger part of a child protection caseload.
AGE_WEIGHTS = [3] * 5 + [5] * 5 + [7] * 5 + [6] * 3
SEX_WEIGHTS = {"female": 49.0, "male": 49.0, "other": 0.4, "unknown": 1.6}
NICKNAMES = ("Mimi", "Lulu", "Nana", "Toto", "Junior", "Kiki", "Bebe", "Sisi", "Dudu", "Bobo")
# Relative weights of the options that are not equally common. Other options weigh 1.
OPTION_WEIGHTS: dict[str, dict[str, float]] = {
    "nationality": {"utopian": 3, "other": 5, "stateless": 0.5, "unknown": 1},
    "displacement_status": {
        "resident": 2,
        "internally_displaced": 4,
        "refugee": 4,
        "asylum_seeker": 1,
    },
    "disability": {"yes": 1, "no": 10, "unknown": 1.5},
    "consent_given_by": {"parent": 6, "other_caregiver": 2},
    "risk_level": {"low": 4, "medium": 4, "high": 2},
    "attending_school": {"yes": 5, "no": 4},
    "care_arrangement": {"both_parents": 4, "one_parent": 5, "kinship_care": 4, "other": 0.2},
    "caregiver_relationship": {"mother": 6, "father": 3, "aunt_uncle": 2},
    "care_arrangement_safe": {"yes": 4},
    "service_status": {"completed": 4, "in_progress": 3},
    "follow_up_type": {"home_visit": 5, "phone_call": 3},
    "follow_up_risk_level": {"low": 5, "medium": 3},
    "closure_reason": {
        "goals_achieved": 8,
        "reunified": 2,
        "transferred": 2,
        "death": 0.05,
        "other": 0.3,
    },
}

# The record columns a batch fills, in COPY order. The search vector is computed in SQL.
RECORD_COLUMNS = (
    "id",
    "record_type_id",
    "short_id",
    "status",
    "workflow_stage",
    "disabled",
    "version",
    "data",
    "owner_id",
    "agency_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "registration_date",
    "display_name",
    "name_keys",
    "search_tokens",
    "match_sex",
    "match_birth_year",
    "match_location",
)
STAGED_COLUMNS = (*RECORD_COLUMNS, "search_text")
HISTORY_COLUMNS = ("record_id", "version", "action", "user_id", "at", "changes")


class SeedError(Exception):
    """An error that stops seeding before it writes anything; the message names the fix."""


@dataclass(frozen=True)
class Caseworker:
    user_id: int
    username: str
    agency_id: int | None
    # The agency's unique_id, the value of the "registering agency" field.
    agency_code: str | None


@dataclass(frozen=True)
class Context:
    """The data generation reads from the database once, before the first case."""

    form: FormDefinition
    locations: tuple[str, ...]
    location_weights: tuple[int, ...]
    caseworkers: tuple[Caseworker, ...]
    # Cases are generated as of this day: every date is before it.
    as_of: dt.date


@dataclass(frozen=True)
class Child:
    """The child a case is about. A near-duplicate copies it with the name written differently."""

    region: names_data.Region
    sex: str
    arabic_script: bool
    first: names_data.Name
    middle: names_data.Name | None
    last: tuple[names_data.Name, ...]
    nickname: str | None
    born: dt.date | None
    age: int
    age_estimated: bool
    location: str
    registered: dt.date
    # First, middle and last name as written on this registration.
    spelled: tuple[str, str | None, str | None] = ("", None, None)


@dataclass
class SyntheticCase:
    record: Record
    # The text derived.searchable_text returns. The search vector is computed from it in SQL.
    search_text: str
    # The case this one repeats with a spelling variant, if it is a near-duplicate.
    duplicate_of: uuid.UUID | None = None


@dataclass
class SeedSummary:
    cases: int = 0
    closed: int = 0
    near_duplicates: int = 0
    history_rows: int = 0
    caseworkers: int = 0
    seconds: float = 0.0
    # (original, near-duplicate) record ids.
    duplicate_pairs: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


class Weighted[T]:
    """A random choice among items with fixed relative weights (one draw and a bisection)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative = list(accumulate(weights))

    def draw(self, rng: random.Random) -> T:
        return self.items[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


# Setup: caseworkers and context.


def ensure_caseworkers(count: int) -> list[User]:
    """Return `count` synthetic caseworkers of the synthetic agency, creating those missing.

    They get no usable password: an administrator sets one to sign in as them.
    """
    agency, _ = Agency.objects.get_or_create(
        unique_id=SYNTHETIC_AGENCY, defaults={"name": {"en": "Synthetic agency"}}
    )
    usernames = [f"{CASEWORKER_PREFIX}{number:04d}" for number in range(1, count + 1)]
    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    User.objects.bulk_create(
        User(username=username, agency=agency, password=make_password(None))
        for username in usernames
        if username not in existing
    )
    # Roles and user groups, with a manager per group and an administrator.
    assign_synthetic_access()
    return list(User.objects.filter(username__in=usernames).order_by("username"))


def named_caseworkers(usernames: Sequence[str]) -> list[User]:
    users = list(User.objects.filter(username__in=usernames).order_by("username"))
    missing = sorted(set(usernames) - {user.username for user in users})
    if missing:
        raise SeedError(
            f"User not found: {', '.join(missing)}. Create the users first, or leave out --owner."
        )
    return users


def load_context(caseworkers: Sequence[User], as_of: dt.date | None = None) -> Context:
    try:
        form = get_form(RECORD_TYPE)
    except LookupError:
        raise SeedError(
            "The case form is missing: load the default configuration first "
            "(`tutela config load-default`)."
        ) from None
    if not caseworkers:
        raise SeedError("No caseworkers given: name an --owner, or leave it out to create some.")

    agencies = dict(Agency.objects.values_list("pk", "unique_id"))
    owners = tuple(
        Caseworker(user.pk, user.username, user.agency_id, agencies.get(user.agency_id or 0))
        for user in sorted(caseworkers, key=lambda user: user.username)
    )
    locations, weights = _location_choices(form)
    return Context(form, locations, weights, owners, as_of or timezone.localdate())


def _location_choices(form: FormDefinition) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Return the codes a case location may take, and uneven weights for them."""
    deepest = form.fields["current_location"].spec.get("admin_level", 5)
    codes = list(
        Location.objects.filter(disabled=False, admin_level__lte=deepest)
        .order_by("-admin_level", "unique_id")
        .values_list("unique_id", "admin_level")
    )
    if not codes:
        raise SeedError(
            "No locations found: load them first (`tutela config load-default` or "
            "`tutela config load-locations FILE`)."
        )
    level = codes[0][1]
    # Most cases name a place at the deepest level, some only a district or region. Places get
    # different, fixed weights, so some towns have many more cases than others.
    weights = tuple(
        (1 + (index * 7919) % 13) * (6 if admin_level == level else 1)
        for index, (_, admin_level) in enumerate(codes)
    )
    return tuple(code for code, _ in codes), weights


# Generation.


class Generator:
    """Generates cases from one random stream; use it from one thread at a time."""

    def __init__(self, context: Context, seed: int, taken_short_ids: set[str]) -> None:
        self.context = context
        self.form = context.form
        # Reproducible fake data, not secrets: a seeded generator is what is wanted here.
        self.rng = random.Random(seed)  # noqa: S311
        self.random = self.rng.random
        self.taken_short_ids = taken_short_ids
        self.recent: list[tuple[Child, uuid.UUID]] = []
        self.latest = context.as_of - dt.timedelta(days=1)

        regions = names_data.REGIONS
        self.regions = Weighted(regions, [region.weight for region in regions])
        self.sexes = Weighted(list(SEX_WEIGHTS), list(SEX_WEIGHTS.values()))
        self.ages = Weighted(range(18), AGE_WEIGHTS)
        self.locations = Weighted(context.locations, context.location_weights)
        self.options: dict[str, list[str]] = {}
        self.pickers: dict[str, Weighted[str]] = {}
        for name, field_def in self._all_fields():
            options = self.form.options(field_def) or []
            ids = [str(option["id"]) for option in options if not option.get("disabled")]
            weights = OPTION_WEIGHTS.get(name, {})
            self.options[name] = ids
            if ids:
                self.pickers[name] = Weighted(ids, [weights.get(i, 1.0) for i in ids])

    def _all_fields(self) -> Iterator[tuple[str, Any]]:
        yield from self.form.fields.items()
        for section in self.form.subforms.values():
            yield from section.by_name.items()

    # Random helpers. The random module's randint and choice are slower, because they draw
    # random bits until the value fits the range.

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def one_of[T](self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def pick(self, name: str) -> str:
        return self.pickers[name].draw(self.rng)

    def pick_some(self, name: str, low: int, high: int, avoid: str = "") -> list[str]:
        options = [option for option in self.options[name] if option != avoid]
        chosen = self.rng.sample(options, self.between(low, min(high, len(options))))
        # Multi-select values are stored in the options' order, as validation writes them.
        return sorted(chosen, key=self.options[name].index)

    def date_after(self, start: dt.date, low: int, high: int) -> dt.date | None:
        """Return a day `low` to `high` days after `start`, or None if it is not in the past."""
        day = start + dt.timedelta(days=self.between(low, high))
        return day if day <= self.latest else None

    def row_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    # Cases.

    def batch(self, count: int) -> list[SyntheticCase]:
        return [self.case() for _ in range(count)]

    def case(self) -> SyntheticCase:
        duplicate_of = None
        if self.recent and self.chance(NEAR_DUPLICATE_SHARE):
            original, duplicate_of = self.one_of(self.recent)
            child = self.near_duplicate(original)
        else:
            child = self.new_child()

        record_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        caseworker = self.one_of(self.context.caseworkers)
        case = self.build(record_id, child, caseworker)
        case.duplicate_of = duplicate_of
        self.remember(child, record_id)
        return case

    def remember(self, child: Child, record_id: uuid.UUID) -> None:
        if len(self.recent) < RECENT_CHILDREN:
            self.recent.append((child, record_id))
        else:
            self.recent[int(self.random() * RECENT_CHILDREN)] = (child, record_id)

    # The child.

    def new_child(self) -> Child:
        region = self.regions.draw(self.rng)
        sex = self.sexes.draw(self.rng)
        given = region.female if sex == "female" else region.male
        if sex in ("other", "unknown"):
            given = self.one_of((region.female, region.male))

        middle = None
        if region.patronymic and self.chance(0.9):
            middle = self.one_of(region.male)
        elif self.chance(0.12):
            middle = self.one_of(given)
        last: tuple[names_data.Name, ...] = ()
        if self.chance(0.97):
            last = (self.one_of(region.family),)
            if region.two_family_names and self.chance(0.7):
                last += (self.one_of(region.family),)

        # More registrations in recent years: the density falls linearly with age.
        days_ago = int(YEARS_OF_REGISTRATIONS * 365 * (1 - math.sqrt(self.random())))
        registered = self.latest - dt.timedelta(days=days_ago)
        age = self.ages.draw(self.rng)
        born = None
        if self.chance(0.65):
            born = registered - dt.timedelta(days=int(age * 365.25) + self.between(0, 359))
            age = years_between(born, registered)
        child = Child(
            region=region,
            sex=sex,
            arabic_script=self.chance(region.arabic_script),
            first=self.one_of(given),
            middle=middle,
            last=last,
            nickname=self.one_of(NICKNAMES) if self.chance(0.03) else None,
            born=born,
            age=age,
            age_estimated=born is None and self.chance(0.7),
            location=self.locations.draw(self.rng),
            registered=registered,
        )
        return replace(child, spelled=self.spell(child))

    def spell(self, child: Child) -> tuple[str, str | None, str | None]:
        """Choose how each name is written: the common spelling mostly, a variant sometimes."""
        first = self.spelling(child.first, child)
        middle = self.spelling(child.middle, child) if child.middle else None
        last_names = [self.family_form(self.spelling(name, child), child) for name in child.last]
        return first, middle, " ".join(last_names) or None

    def spelling(self, name: names_data.Name, child: Child) -> str:
        if child.region.arabic_script:
            if child.arabic_script:
                return name[-1]
            name = name[:-1]
        return name[0] if len(name) == 1 or self.chance(0.8) else self.one_of(name)

    def family_form(self, family_name: str, child: Child) -> str:
        if child.sex == "female":
            return dict(child.region.female_family_forms).get(family_name, family_name)
        return family_name

    def near_duplicate(self, original: Child) -> Child:
        """Return the same child registered again later, with the name written differently."""
        later = original.registered + dt.timedelta(days=self.between(7, 400))
        registered = min(self.latest, later)
        if original.born:
            age = years_between(original.born, registered)
        else:
            age = min(17, original.age + (registered - original.registered).days // 365)
        location = self.locations.draw(self.rng) if self.chance(0.15) else original.location
        child = replace(original, registered=registered, age=age, location=location)
        return replace(child, spelled=self.respell(child))

    def respell(self, child: Child) -> tuple[str, str | None, str | None]:
        first, middle, last = child.spelled
        kinds = ["spelling", "spelling", "typo"]
        if last:
            kinds.append("swap")
        if child.region.arabic_script:
            kinds.append("script")
        kind = self.one_of(kinds)

        # A slip in Arabic script is written here as the Latin spelling instead.
        if kind == "script" or (kind == "typo" and names.ARABIC_LETTERS.search(first)):
            return self.spell(replace(child, arabic_script=not child.arabic_script))
        if kind == "swap" and last:
            return last, middle, first
        if kind == "spelling":
            others = [n for n in latin_spellings(child.first) if n != first]
            if others:
                return self.one_of(others), middle, last
        return typo(first, self.between(0, 99)), middle, last

    # The form values, section by section, as a case fills them over time.

    def build(self, record_id: uuid.UUID, child: Child, caseworker: Caseworker) -> SyntheticCase:
        values: dict[str, Any] = {}
        self.registration(values, child, caseworker)
        self.consent(values, child)
        self.protection_concerns(values, child)

        # Each later section needs time since registration, so a recent case has fewer.
        elapsed = (self.latest - child.registered).days
        last_activity = child.registered
        for step in (
            self.initial_assessment,
            self.comprehensive_assessment,
            self.family_care,
            self.case_plan,
            self.services,
            self.follow_ups,
        ):
            last_activity = max(last_activity, step(values, child, elapsed))

        closed = self.chance(min(0.85, elapsed / 900))
        if closed:
            last_activity = self.closure(values, child, last_activity)
        self.calculated(values)

        created_at = at_time(child.registered, self.between(7 * 60, 17 * 60))
        updated_at = at_time(last_activity, self.between(7 * 60, 18 * 60))
        updated_at = max(updated_at, created_at + dt.timedelta(minutes=self.between(5, 90)))

        record = Record(
            id=record_id,
            record_type_id=self.form.record_type.pk,
            short_id=self.short_id(),
            status=Status.CLOSED.value if closed else Status.OPEN.value,
            data=values,
            owner_id=caseworker.user_id,
            agency_id=caseworker.agency_id,
            created_by_id=caseworker.user_id,
            created_at=created_at,
            updated_at=updated_at,
        )
        derived.refresh(record, self.form)
        return SyntheticCase(record, derived.searchable_text(record, self.form))

    def short_id(self) -> str:
        while True:
            raw = "".join(self.rng.choices(SHORT_ID_ALPHABET, k=SHORT_ID_LENGTH))
            short_id = f"{raw[:3]}-{raw[3:]}"
            # 1,000,000 ids drawn from 31**7 (2.75e10) collide about 18 times (n²/2N): draw again.
            if short_id not in self.taken_short_ids:
                self.taken_short_ids.add(short_id)
                return short_id

    def registration(self, values: dict[str, Any], child: Child, caseworker: Caseworker) -> None:
        first, middle, last = child.spelled
        values["registration_date"] = child.registered.isoformat()
        if caseworker.agency_code:
            values["registering_agency"] = caseworker.agency_code
        values["assigned_caseworker"] = caseworker.username

        values["name_first"] = first
        if middle:
            values["name_middle"] = middle
        if last:
            values["name_last"] = last
        if child.nickname:
            values["name_nickname"] = child.nickname
        values["sex"] = child.sex
        if child.born:
            values["date_of_birth"] = child.born.isoformat()
        values["age"] = child.age
        if child.age_estimated:
            values["age_estimated"] = True

        values["nationality"] = self.pick("nationality")
        spoken = [lang for lang in child.region.languages if lang in self.options["languages"]]
        languages = self.rng.sample(spoken, self.between(1, min(2, len(spoken))))
        values["languages"] = sorted(languages, key=self.options["languages"].index)
        if self.chance(0.3):
            values["national_id_number"] = f"UT{self.between(0, 10**8 - 1):08d}"
        values["displacement_status"] = self.pick("displacement_status")
        values["disability"] = self.pick("disability")

        values["current_location"] = child.location
        if self.chance(0.3):
            values["address"] = f"Block {self.one_of('ABCDEFGH')}, shelter {self.between(1, 400)}"
        if self.chance(0.5):
            values["phone"] = self.phone_number()

    def consent(self, values: dict[str, Any], child: Child) -> None:
        values["consent_process_explained"] = True
        values["consent_given"] = self.chance(0.96)
        if child.age >= 7:
            values["assent_given"] = self.chance(0.92)
        giver = self.pick("consent_given_by")
        if giver == "child" and child.age < 15:
            giver = "parent"
        values["consent_given_by"] = giver
        if giver in ("parent", "other_caregiver", "legal_guardian"):
            values["consent_giver_name"] = self.adult_name(child)
        values["consent_date"] = child.registered.isoformat()
        values["consent_sharing_allowed"] = self.pick_some("consent_sharing_allowed", 1, 3)

    def protection_concerns(self, values: dict[str, Any], child: Child) -> None:
        concerns = self.pick_some("protection_concerns", 1, 3, avoid="other")
        if self.chance(0.03):
            concerns.append("other")
            values["protection_concerns_other"] = "Bullying at school"
        values["protection_concerns"] = concerns
        risk = self.pick("risk_level")
        values["risk_level"] = risk
        if self.chance(0.7):
            values["risk_factors"] = self.pick_some("risk_factors", 1, 3)
        if self.chance(0.3):
            values["risk_level_reason"] = self.one_of(names_data.ASSESSMENT_PHRASES)
        if risk == "high":
            values["immediate_safety_actions"] = self.one_of(names_data.SAFETY_ACTIONS)
            acted = at_time(child.registered, self.between(9 * 60, 20 * 60))
            values["immediate_safety_actions_at"] = utc_text(acted)
            values["supervisor_informed"] = self.chance(0.9)

    def initial_assessment(self, values: dict[str, Any], child: Child, elapsed: int) -> dt.date:
        day = self.date_after(child.registered, 0, 14)
        if day is None or self.chance(0.08):
            return child.registered
        values["initial_assessment_date"] = day.isoformat()
        values["initial_assessment_summary"] = self.phrases(names_data.ASSESSMENT_PHRASES)
        if self.chance(0.5):
            values["child_views"] = self.one_of(names_data.CHILD_VIEW_PHRASES)
        children = self.between(1, 7)
        girls = self.between(0, children)
        values["household_adults"] = self.between(0, 4)
        values["household_children"] = children
        values["household_children_by_sex"] = {
            sex: count for sex, count in (("female", girls), ("male", children - girls)) if count
        }
        if self.chance(0.8):
            for name in ("safety", "health", "psychosocial", "education"):
                values[f"wellbeing_{name}"] = self.between(1, 5)
        values["attending_school"] = self.pick("attending_school")
        return day

    def comprehensive_assessment(
        self, values: dict[str, Any], child: Child, elapsed: int
    ) -> dt.date:
        start = values.get("initial_assessment_date")
        if values["risk_level"] == "low" or start is None or self.chance(0.2):
            return child.registered
        day = self.date_after(dt.date.fromisoformat(start), 3, 21)
        if day is None:
            return child.registered
        values["comprehensive_assessment_date"] = day.isoformat()
        for name in self.rng.sample(("safety_needs", "health_needs", "psychosocial_needs"), 2):
            values[name] = self.one_of(names_data.NEEDS_PHRASES)
        if self.chance(0.5):
            values["education_needs"] = "Needs to be enrolled in the nearest school."
        values["services_needed"] = self.pick_some("services_needed", 1, 3)
        return day

    def family_care(self, values: dict[str, Any], child: Child, elapsed: int) -> dt.date:
        if elapsed < 5 or self.chance(0.15):
            return child.registered
        arrangement = self.pick("care_arrangement")
        values["care_arrangement"] = arrangement
        if arrangement == "other":
            values["care_arrangement_other"] = "Lives with a neighbour"
        alone = arrangement in ("no_care", "child_headed_household")
        values["separation_status"] = "unaccompanied" if alone else self.pick("separation_status")
        if not alone:
            values["caregiver_name"] = self.adult_name(child)
            values["caregiver_relationship"] = self.pick("caregiver_relationship")
            if self.chance(0.4):
                values["caregiver_phone"] = self.phone_number()
            values["care_arrangement_safe"] = self.pick("care_arrangement_safe")
        rows = [self.family_member(child) for _ in range(self.one_of((0, 1, 1, 2, 2, 3, 4)))]
        if rows:
            values["family_members"] = sorted(rows, key=lambda row: row["family_member_age"])
        return child.registered + dt.timedelta(days=5)

    def family_member(self, child: Child) -> dict[str, Any]:
        row: dict[str, Any] = {
            "unique_id": self.row_id(),
            "family_member_name": self.adult_name(child),
            "family_member_relationship": self.pick("family_member_relationship"),
            "family_member_age": self.between(1, 70),
            "family_member_lives_with_child": self.chance(0.6),
        }
        if self.chance(0.2):
            row["family_member_phone"] = self.phone_number()
        return row

    def case_plan(self, values: dict[str, Any], child: Child, elapsed: int) -> dt.date:
        day = self.date_after(child.registered, 7, 35)
        if day is None or self.chance(0.25):
            return child.registered
        values["case_plan_date"] = day.isoformat()
        values["case_plan_child_participated"] = self.chance(0.8)
        goals = [self.goal(day) for _ in range(self.between(1, 3))]
        values["case_plan_goals"] = sorted(goals, key=lambda row: row["goal_due_date"])
        values["case_plan_review_date"] = (day + dt.timedelta(days=90)).isoformat()
        values["case_plan_approved"] = self.chance(0.75)
        return day

    def goal(self, planned: dt.date) -> dict[str, Any]:
        due = planned + dt.timedelta(days=self.between(30, 120))
        return {
            "unique_id": self.row_id(),
            "goal": self.one_of(names_data.GOALS),
            "intervention_type": self.pick("intervention_type"),
            "responsible_person": self.one_of(("Caseworker", "Caregiver", "Child and caseworker")),
            "goal_due_date": due.isoformat(),
            "goal_status": self.pick("goal_status"),
        }

    def services(self, values: dict[str, Any], child: Child, elapsed: int) -> dt.date:
        if self.chance(0.4):
            return child.registered
        planned = values.get("case_plan_date")
        start = dt.date.fromisoformat(planned) if planned else child.registered
        rows = []
        for _ in range(self.between(1, 4)):
            referred = self.date_after(start, 0, 60)
            if referred is None:
                continue
            row: dict[str, Any] = {
                "unique_id": self.row_id(),
                "service_type": self.pick("service_type"),
                "service_provider": self.one_of(names_data.SERVICE_PROVIDERS),
                "referral_date": referred.isoformat(),
                "referral_urgent": self.chance(0.2),
                "service_status": self.pick("service_status"),
            }
            if row["service_status"] == "completed":
                row["service_outcome"] = "The service was provided as planned."
            rows.append(row)
        if not rows:
            return child.registered
        values["services"] = sorted(rows, key=lambda row: row["referral_date"])
        return dt.date.fromisoformat(values["services"][-1]["referral_date"])

    def follow_ups(self, values: dict[str, Any], child: Child, elapsed: int) -> dt.date:
        count = min(8, self.between(0, elapsed // 30 + 1))
        offsets = sorted({self.between(10, max(10, elapsed)) for _ in range(count)})
        rows = []
        for offset in offsets:
            day = child.registered + dt.timedelta(days=offset)
            if day > self.latest:
                continue
            row: dict[str, Any] = {
                "unique_id": self.row_id(),
                "follow_up_date": day.isoformat(),
                "follow_up_type": self.pick("follow_up_type"),
                "follow_up_findings": self.one_of(names_data.FOLLOW_UP_PHRASES),
                "follow_up_risk_level": self.pick("follow_up_risk_level"),
                "follow_up_action_needed": self.chance(0.3),
            }
            if row["follow_up_action_needed"]:
                row["follow_up_action_details"] = self.one_of(names_data.NEEDS_PHRASES)
            rows.append(row)
        if not rows:
            return child.registered
        values["follow_ups"] = rows
        return dt.date.fromisoformat(rows[-1]["follow_up_date"])

    def closure(self, values: dict[str, Any], child: Child, last_activity: dt.date) -> dt.date:
        day = min(self.latest, last_activity + dt.timedelta(days=self.between(5, 60)))
        reason = self.pick("closure_reason")
        if child.age + (day - child.registered).days // 365 >= 18:
            reason = "reached_adulthood"
        values["closure_reason"] = reason
        if reason == "other":
            values["closure_reason_other"] = "The family asked to close the case"
        values["closure_date"] = day.isoformat()
        values["closure_safety_confirmed"] = reason in ("goals_achieved", "reunified")
        if self.chance(0.5):
            values["closure_notes"] = self.one_of(names_data.FOLLOW_UP_PHRASES)
        values["closure_approved_at"] = utc_text(at_time(day, self.between(8 * 60, 18 * 60)))
        return day

    def calculated(self, values: dict[str, Any]) -> None:
        """Fill the calculated fields as validation does, but count ages as of the as-of day."""
        for section in self.form.sections:
            for name, value in calculate(section, values).items():
                spec = section.by_name[name].spec["calculation"]
                result = value
                if spec["op"] == "age" and values.get(spec["field"]):
                    born = dt.date.fromisoformat(values[spec["field"]])
                    result = years_between(born, self.context.as_of)
                if result is not None:
                    values[name] = result

    def adult_name(self, child: Child) -> str:
        """Return a relative's name: a given name of the child's region, the child's family name."""
        region = child.region
        given = self.one_of(self.one_of((region.female, region.male)))
        family = child.last[0] if child.last else self.one_of(region.family)
        return f"{self.spelling(given, child)} {self.spelling(family, child)}"

    def phrases(self, pool: Sequence[str]) -> str:
        return " ".join(self.rng.sample(pool, self.between(2, 3)))

    def phone_number(self) -> str:
        return f"09{self.between(0, 9)} {self.between(0, 999):03d} {self.between(0, 9999):04d}"


def years_between(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def at_time(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=dt.UTC)


def utc_text(moment: dt.datetime) -> str:
    """Format a moment as validation stores a date-time value."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def latin_spellings(name: names_data.Name) -> names_data.Name:
    return name[:-1] if names.ARABIC_LETTERS.search(name[-1]) else name


def typo(name: str, draw: int) -> str:
    """Return `name` with a clerk's slip: a doubled letter undone, a vowel changed or a letter
    doubled. `draw` (0-99) chooses where the slip falls."""
    for index in range(1, len(name) - 1):
        if name[index] == name[index + 1] and name[index].isalpha():
            return name[:index] + name[index + 1 :]
    swaps = {"e": "i", "i": "e", "o": "u", "u": "o"}
    vowels = [i for i in range(1, len(name)) if name[i] in swaps]
    if vowels:
        index = vowels[draw % len(vowels)]
        return name[:index] + swaps[name[index]] + name[index + 1 :]
    consonants = [i for i in range(1, len(name)) if name[i].isalpha() and name[i] not in "aeiouy"]
    if consonants:
        index = consonants[draw % len(consonants)]
        return name[: index + 1] + name[index:]
    return name


# Checking against the configuration.


def check_case(form: FormDefinition, data: dict[str, Any]) -> list[str]:
    """Return the problems the validator finds in a synthetic case's values, or none.

    The values are checked as if a caseworker registered the case with all of them at once:
    every section that has values must be complete, and every value, calculated ones
    included, must come back from validation unchanged.
    """
    given = {
        name: value
        for name, value in data.items()
        if name not in form.fields or form.fields[name].type != "calculated"
    }
    try:
        cleaned = clean_changes(form, given, {}, creating=True)
    except RecordInvalid as error:
        return [str(problem) for problem in error.problems]
    stored = {name: value for name, value in cleaned.items() if value is not None}
    return [
        f"{name}: validation gives {stored.get(name)!r}, the generator {data.get(name)!r}"
        for name in sorted(set(stored) | set(data))
        if stored.get(name) != data.get(name)
    ]


def check_before_writing(
    form: FormDefinition, cases: Sequence[SyntheticCase], seed_value: int
) -> None:
    """Raise SeedError before anything is written when the first cases cannot be written."""
    if Record.objects.filter(pk=cases[0].record.pk).exists():
        raise SeedError(
            f"The cases of seed {seed_value} already exist in this database: choose another --seed."
        )
    for case in cases[:50]:
        problems = check_case(form, case.record.data)
        if problems:
            raise SeedError(
                "The generated cases are invalid for the case form in force, which may differ from "
                "the default configuration: " + "; ".join(problems[:5])
            )


# Writing.


def staged_row(case: SyntheticCase) -> tuple[Any, ...]:
    """Return a record's row as a save would store it: sensitive values encrypted."""
    r = case.record
    # COPY bypasses the model fields, so their encryption is applied here.
    data = Record._meta.get_field("data").pre_save(r, True)
    display_name = Record._meta.get_field("display_name").pre_save(r, True)
    return (
        r.id,
        r.record_type_id,
        r.short_id,
        r.status,
        r.workflow_stage,
        r.disabled,
        r.version,
        json.dumps(data, ensure_ascii=False),
        r.owner_id,
        r.agency_id,
        r.created_by_id,
        r.created_at,
        r.updated_at,
        r.registration_date,
        display_name,
        r.name_keys,
        r.search_tokens,
        r.match_sex,
        r.match_birth_year,
        r.match_location,
        case.search_text,
    )


def history_row(case: SyntheticCase) -> tuple[Any, ...]:
    """Return the "create" history row that create_record writes for this case."""
    r = case.record
    sealed = seal_changes(diff({}, r.data), policy_of_instance(r))
    changes = json.dumps(sealed, ensure_ascii=False)
    return (r.id, r.version, "create", r.created_by_id, r.created_at, changes)


# Table and column names in these statements are constants, never input.
STAGING_SQL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} "
    f"(LIKE {Record._meta.db_table} INCLUDING DEFAULTS, search_text text NOT NULL)"
)
COPY_SQL = f"COPY {STAGING_TABLE} ({', '.join(STAGED_COLUMNS)}) FROM STDIN"
# The search vector as derived.search_vector_expression builds it: plain words with weight A,
# the stems of the site's search language with weight B.
INSERT_RECORDS_SQL = (
    f"INSERT INTO {Record._meta.db_table} ({', '.join(RECORD_COLUMNS)}, search_vector) "  # noqa: S608
    f"SELECT {', '.join(RECORD_COLUMNS)}, "
    "setweight(to_tsvector('simple'::regconfig, COALESCE(search_text, '')), 'A') || "
    "setweight(to_tsvector(%s::regconfig, COALESCE(search_text, '')), 'B') "
    f"FROM {STAGING_TABLE}"
)
COPY_HISTORY_SQL = f"COPY {RecordHistory._meta.db_table} ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"


def write_batch(rows: Sequence[tuple[Any, ...]], history: Sequence[tuple[Any, ...]]) -> None:
    """Write one batch of staged record rows and their history rows in one transaction."""
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor
        # Losing the last batches to a crash is acceptable for demo data, and not waiting for
        # each commit to reach the disk saves time.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # New GIN entries collect in a pending list that is merged into the index when full.
        # Merging a larger list at a time is cheaper, and finish() merges what is left.
        cursor.execute("SET LOCAL gin_pending_list_limit TO '32MB'")
        cursor.execute(STAGING_SQL)
        with cursor.copy(COPY_SQL) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(INSERT_RECORDS_SQL, [settings.TUTELA_SEARCH_LANGUAGE])
        cursor.execute(f"TRUNCATE {STAGING_TABLE}")

        # The changes are built in Python: building them with jsonb_object_agg took PostgreSQL,
        # the busier side, about twice the time per case (measured on a two-core machine).
        with cursor.copy(COPY_HISTORY_SQL) as copy:
            for row in history:
                copy.write_row(row)


def finish() -> None:
    """Merge the GIN indexes' pending entries and refresh the planner's statistics."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
            [Record._meta.db_table],
        )
        cursor.execute(f"ANALYZE {Record._meta.db_table}, {RecordHistory._meta.db_table}")


def taken_short_ids() -> set[str]:
    return set(Record.objects.values_list("short_id", flat=True))


def seed_cases(
    context: Context,
    count: int,
    seed_value: int,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> SeedSummary:
    """Generate and write `count` cases; return what was written."""
    started = time.monotonic()
    generator = Generator(context, seed_value, taken_short_ids())
    sizes = [batch_size] * (count // batch_size)
    if count % batch_size:
        sizes.append(count % batch_size)
    summary = SeedSummary(caseworkers=len(context.caseworkers))

    for index, (cases, rows, history) in enumerate(generated_batches(generator, sizes)):
        if index == 0:
            check_before_writing(context.form, cases, seed_value)
        write_batch(rows, history)
        count_batch(summary, cases)
        if on_batch:
            on_batch(len(cases))
    finish()

    summary.seconds = time.monotonic() - started
    return summary


# The cases, their staged record rows and their history rows.
Batch = tuple[list[SyntheticCase], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def generated_batches(generator: Generator, sizes: list[int]) -> Iterator[Batch]:
    """Yield batches of cases with their rows, generated a batch ahead in a thread.

    Generation is Python code that holds the interpreter lock, while writing mostly waits for
    PostgreSQL, so the two overlap on a machine with two cores.
    """

    def make(size: int) -> Batch:
        cases = generator.batch(size)
        return cases, [staged_row(c) for c in cases], [history_row(c) for c in cases]

    if not sizes:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic") as pool:
        pending = pool.submit(make, sizes[0])
        for size in sizes[1:]:
            ready = pending.result()
            pending = pool.submit(make, size)
            yield ready
        yield pending.result()
        # Encrypting sensitive values reads data keys on the thread's own connection.
        pool.submit(lambda: connection.close()).result()


def count_batch(summary: SeedSummary, cases: Sequence[SyntheticCase]) -> None:
    summary.cases += len(cases)
    summary.history_rows += len(cases)
    for case in cases:
        if case.record.status == Status.CLOSED:
            summary.closed += 1
        if case.duplicate_of:
            summary.near_duplicates += 1
            summary.duplicate_pairs.append((case.duplicate_of, case.record.id))
