"""Index the top-level keys of every record's form data, per record type.

A promotion plan counts the records that hold a value for a removed field. With this GIN index
the count visits only the matching records; without it, PostgreSQL reads the whole records table
(BENCHMARKS.md, section "Configuration promotion"). The index is built
CONCURRENTLY, so record saves go on while it builds on a large site.
"""

from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION promotion_record_keys(record_type bigint, data jsonb)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(pg_catalog.array_agg(record_type::text || ':' || key), '{}')
    FROM pg_catalog.jsonb_object_keys(
        CASE WHEN pg_catalog.jsonb_typeof(data) = 'object' THEN data ELSE '{}'::jsonb END
    ) AS key
$$
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("promotion", "0001_initial"),
        ("records", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            CREATE_FUNCTION, "DROP FUNCTION IF EXISTS promotion_record_keys(bigint, jsonb)"
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS record_data_keys ON records_record "
            "USING gin (promotion_record_keys(record_type_id, data))",
            "DROP INDEX CONCURRENTLY IF EXISTS record_data_keys",
        ),
    ]
