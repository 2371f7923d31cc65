#!/usr/bin/env python3
"""Compare the search queries before and after commit 5447a3e by server execution time.

Before it, free-text and fuzzy name search sorted by the indexed updated_at column, so
PostgreSQL walked that index and tested rows one by one; now they sort by an expression, so the
matches come from the GIN indexes first. For the first 60 free-text and 60 fuzzy queries of the
latency benchmark's sample, this prints p50, p95 and max of `EXPLAIN ANALYZE`'s execution time
for each form. It needs the seeded benchmark database (benchmarks/database.py):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tutela_bench_1000000 TUTELA_MODE=local \\
        .venv/bin/python benchmarks/search_plans.py
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutela.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Q, QuerySet  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from benchmarks import run  # noqa: E402
from tutela.records.models import Record  # noqa: E402
from tutela.records.search import (  # noqa: E402
    Criteria,
    find_by_name,
    name_condition,
    search,
    text_query,
)

SAMPLE = 60


def execution_ms(sql: str, params: Any = None) -> float:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        row = cursor.fetchone()
    return float(row[0][0]["Execution Time"])


def queryset_ms(records: QuerySet[Record]) -> float:
    sql, params = records.query.sql_with_params()
    return execution_ms(sql, params)


def search_sql(call: Callable[[], Any]) -> str:
    """Return the SQL of the query that `call` sends with a search or name-key condition."""
    with CaptureQueriesContext(connection) as captured:
        call()
    return next(
        q["sql"]
        for q in captured.captured_queries
        if "search_vector" in q["sql"] or "name_keys" in q["sql"]
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    database = connection.settings_dict["NAME"]
    work, _ = run.workload(database, 1_000_000, 1)
    agency = Q(agency_id=work.agency_id)
    records = Record.objects.filter(record_type__unique_id="case", disabled=False).filter(agency)
    times: dict[str, list[float]] = {
        key: [] for key in ("text old", "text new", "name old", "name new")
    }
    for text in work.texts[:SAMPLE]:
        old = Q(search_vector=text_query(text)) | Q(data__contains={"national_id_number": text})
        times["text old"].append(
            queryset_ms(records.filter(old).order_by("-updated_at", "-id")[:26])
        )
        new = search_sql(lambda text=text: search(Criteria("case", text=text, scope=agency)))
        times["text new"].append(execution_ms(new))
    for name in work.names[:SAMPLE]:
        condition = name_condition(name)
        if condition is None:
            continue
        old_names = records.filter(condition).order_by("-updated_at")[:400]
        times["name old"].append(queryset_ms(old_names))
        new = search_sql(lambda name=name: find_by_name("case", name, records=records))
        times["name new"].append(execution_ms(new))
    for key, values in times.items():
        print(
            f"{key}: {len(values)} queries, p50 {percentile(values, 0.5):.1f} ms, "
            f"p95 {percentile(values, 0.95):.1f} ms, max {max(values):.1f} ms"
        )


if __name__ == "__main__":
    main()
