"""Exact counts of the records a configuration change touches, from indexed queries.

`promotion_record_keys(record_type_id, data)` lists "<record type id>:<key>" for every top-level
key of a record's form data. Migration 0002 creates the function and a GIN index on it, so "how
many records of this type hold a value for this field" is a bitmap scan of the matching records
instead of a read of the whole table (BENCHMARKS.md: about 2 s instead of 20 s for 300,000 of
1,000,000 cases). Option use is counted with `data @> ...`, which the existing
`record_data` GIN index (jsonb_path_ops) serves.
"""

import json
from typing import Any

from django.db import connection

from tutela.configuration.models import RecordType

# Bitmaps over a million rows need more than the default 4 MB to stay exact. A lossy bitmap
# makes PostgreSQL recheck every row of the heap.
COUNT_WORK_MEM = "64MB"


def _record_type_ids() -> dict[str, int]:
    return dict(RecordType.objects.values_list("unique_id", "pk"))


class RecordCounter:
    """Counts for one plan, with the record type ids of this site."""

    def __init__(self) -> None:
        self.record_types = _record_type_ids()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = %s", [COUNT_WORK_MEM])

    def _key(self, record_type: str, name: str) -> str | None:
        type_id = self.record_types.get(record_type)
        return None if type_id is None else f"{type_id}:{name}"

    def _count(self, sql: str, params: list[Any]) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def with_value(self, record_type: str, name: str, subform_parents: list[str]) -> int:
        """Count the records holding a value for a field (in any row of its subforms)."""
        if not subform_parents:
            key = self._key(record_type, name)
            if key is None:
                return 0
            return self._count(
                "SELECT count(*) FROM records_record "
                "WHERE promotion_record_keys(record_type_id, data) @> ARRAY[%s]::text[]",
                [key],
            )
        keys = [self._key(record_type, parent) for parent in subform_parents]
        paths = [f'$."{parent}"[*]."{name}"' for parent in subform_parents]
        # The index finds the records with the subform; the path test checks their rows.
        tests = " OR ".join(["data @? %s::jsonpath"] * len(paths))
        return self._count(
            "SELECT count(*) FROM records_record "  # noqa: S608 (only placeholders are joined)
            f"WHERE promotion_record_keys(record_type_id, data) && %s::text[] AND ({tests})",
            [[k for k in keys if k], *paths],
        )

    def using_option(
        self, record_type: str, name: str, subform_parents: list[str], option: str
    ) -> int:
        """Count the records whose field has the value `option`, alone or in a multiple choice."""
        type_id = self.record_types.get(record_type)
        if type_id is None:
            return 0
        patterns: list[str] = []
        for value in (option, [option]):
            if subform_parents:
                patterns += [json.dumps({parent: [{name: value}]}) for parent in subform_parents]
            else:
                patterns.append(json.dumps({name: value}))
        tests = " OR ".join(["data @> %s::jsonb"] * len(patterns))
        return self._count(
            "SELECT count(*) FROM records_record "  # noqa: S608 (only placeholders are joined)
            f"WHERE record_type_id = %s AND ({tests})",
            [type_id, *patterns],
        )
