"""Import the location tree from CSV files tagged with HXL hashtags.

The second row of the file carries the hashtags: `#adm1+code`, `#adm1+name`, and optionally
`#adm1+name+fr` for names in other locales. Each row describes one location at its deepest
level together with its ancestors, as administrative boundary tables are published.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from tutela.configuration.models import Location
from tutela.configuration.schema import UNIQUE_ID, ConfigurationInvalid, Problem

HASHTAG = re.compile(r"^#adm([0-5])((?:\+[a-z_]+)+)$")


@dataclass
class ParsedLocation:
    code: str
    level: int
    parent: str | None
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class Column:
    index: int
    level: int
    kind: str  # "code" or "name"
    locale: str


def parse_hashtags(row: list[str], path: str) -> tuple[list[Column], list[Problem]]:
    columns: list[Column] = []
    problems: list[Problem] = []
    for index, raw in enumerate(row):
        tag = raw.strip().lower().replace(" ", "")
        if not tag.startswith("#adm"):
            continue  # other HXL columns (population, p-codes of other schemes) are ignored
        match = HASHTAG.match(tag)
        if not match:
            problems.append(
                Problem(
                    f"{path}:2:{index + 1}",
                    f"{raw!r} is not a #admN+code or #admN+name hashtag (N from 0 to 5).",
                )
            )
            continue
        attributes = match.group(2).strip("+").split("+")
        if "code" in attributes:
            columns.append(Column(index, int(match.group(1)), "code", ""))
        elif "name" in attributes:
            locales = [a for a in attributes if a != "name"]
            columns.append(
                Column(index, int(match.group(1)), "name", locales[0] if locales else "en")
            )
    if not any(column.kind == "code" for column in columns):
        problems.append(Problem(f"{path}:2", "has no #admN+code column; each level needs codes."))
    return columns, problems


def parse_locations(text: str, path: str = "locations.csv") -> dict[str, ParsedLocation]:
    """Parse the CSV text; raise ConfigurationInvalid listing every problem with its line."""
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise ConfigurationInvalid(
            [Problem(path, "needs a header row and a row of HXL hashtags (#adm1+code ...).")]
        )
    columns, problems = parse_hashtags(rows[1], path)
    levels = sorted({c.level for c in columns if c.kind == "code"})
    locations: dict[str, ParsedLocation] = {}

    for line_number, row in enumerate(rows[2:], start=3):
        if not any(cell.strip() for cell in row):
            continue
        parent: str | None = None
        for level in levels:
            code = _cell(row, columns, level, "code")
            if not code:
                continue
            if not UNIQUE_ID.match(code):
                problems.append(Problem(f"{path}:{line_number}", f"{code!r} is not a valid code."))
                break
            names = {
                c.locale: row[c.index].strip()
                for c in columns
                if c.kind == "name"
                and c.level == level
                and c.index < len(row)
                and row[c.index].strip()
            }
            existing = locations.get(code)
            if existing is None:
                locations[code] = ParsedLocation(code, level, parent, names)
            elif existing.parent != parent or existing.level != level:
                problems.append(
                    Problem(
                        f"{path}:{line_number}",
                        f"location {code!r} appears under two parents ({existing.parent!r} and "
                        f"{parent!r}); each code has one place in the tree.",
                    )
                )
            else:
                existing.names.update(names)
            parent = code
    for location in locations.values():
        if "en" not in location.names:
            problems.append(
                Problem(
                    path, f"location {location.code!r} has no name (#adm{location.level}+name)."
                )
            )
    if problems:
        raise ConfigurationInvalid(problems)
    return locations


def _cell(row: list[str], columns: list[Column], level: int, kind: str) -> str:
    for column in columns:
        if column.level == level and column.kind == kind and column.index < len(row):
            return row[column.index].strip()
    return ""


def load_locations(path: Path) -> int:
    """Import or update the location tree from a CSV file; return how many locations it has."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigurationInvalid(
            [Problem(str(path), f"is not UTF-8 text (byte {e.start}); save it as UTF-8 CSV.")]
        ) from None
    return save_locations(parse_locations(text, str(path)))


def save_locations(locations: dict[str, ParsedLocation]) -> int:
    with transaction.atomic():
        saved: dict[str, Location] = {}
        for parsed in sorted(locations.values(), key=lambda item: item.level):
            location, _ = Location.objects.update_or_create(
                unique_id=parsed.code,
                defaults={
                    "admin_level": parsed.level,
                    "name": parsed.names,
                    "parent": saved.get(parsed.parent) if parsed.parent else None,
                    "disabled": False,
                },
            )
            saved[parsed.code] = location
    return len(saved)
