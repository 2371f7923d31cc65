"""Encrypt the stored values of records to match the configuration in force, in batches.

Records saved through the application are encrypted as they are written. This job rewrites
records stored before encryption at rest was on, before a field was marked sensitive, or by the
synthetic seeder (which writes with COPY): their sensitive values are encrypted, values of
fields no longer sensitive are decrypted, and the derived columns (display name, name keys,
search tokens, search vector, match columns) are computed again. History rows follow.

Each batch is one short transaction that locks only its own records, in primary key order, so
the site stays in use; a stopped run resumes with `--after` the last id it printed. Versions
are not changed: nothing a user entered changes. A record whose stored values already match
the configuration is skipped, so a second run rewrites nothing.

TODO: files stored in clear before encryption was on stay in clear; encrypting them needs a
pass over the storage that writes each file again and updates its checksum.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.functions import Cast

from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import RecordType
from tutela.encryption import envelope
from tutela.encryption.policy import Policy, policy_of_form
from tutela.records import derived
from tutela.records.models import Record, RecordHistory

RECORD_COLUMNS = [
    "data",
    "display_name",
    "name_keys",
    "search_tokens",
    "match_sex",
    "match_birth_year",
    "match_location",
]
SEARCH_VECTOR_SQL = f"""
UPDATE {Record._meta.db_table} AS r
SET search_vector = setweight(to_tsvector('simple', v.text), 'A')
    || setweight(to_tsvector(%s::regconfig, v.text), 'B')
FROM unnest(%s::uuid[], %s::text[]) AS v(id, text)
WHERE r.id = v.id
"""  # noqa: S608 (table name from the model)


@dataclass
class Progress:
    # Records looked at, and those among them rewritten.
    checked: int = 0
    records: int = 0
    history_rows: int = 0
    last_id: uuid.UUID | None = None


def backfill(
    *,
    batch: int = 500,
    after: uuid.UUID | None = None,
    limit: int | None = None,
    report: Callable[[Progress], None] | None = None,
) -> Progress:
    """Check every record (or `limit` of them) after the id `after`, `batch` at a time, and
    rewrite those whose stored values do not match the configuration."""
    progress = Progress(last_id=after)
    for record_type in RecordType.objects.order_by("unique_id"):
        form = get_form(record_type.unique_id)
        last = after
        while limit is None or progress.checked < limit:
            size = batch if limit is None else min(batch, limit - progress.checked)
            done, last = rewrite_batch(record_type, form, last, size, progress)
            if not done:
                break
            if report:
                report(progress)
    return progress


def rewrite_batch(
    record_type: RecordType,
    form: FormDefinition,
    after: uuid.UUID | None,
    size: int,
    progress: Progress,
) -> tuple[int, uuid.UUID | None]:
    data_field = Record._meta.get_field("data")
    name_field = Record._meta.get_field("display_name")
    changes_field = RecordHistory._meta.get_field("changes")
    with transaction.atomic():
        records = Record.objects.select_for_update(of=("self",)).filter(record_type=record_type)
        if after is not None:
            records = records.filter(pk__gt=after)
        # The stored (possibly encrypted) values, read past the decrypting model fields.
        records = records.annotate(
            stored_data=Cast("data", models.JSONField()),
            stored_name=Cast("display_name", models.TextField()),
        )
        batch_rows = list(records.order_by("pk")[:size])
        if not batch_rows:
            return 0, after
        progress.checked += len(batch_rows)
        progress.last_id = batch_rows[-1].pk
        rules = policy_of_form(form)
        rows = [row for row in batch_rows if needs_rewrite(row.stored_data, row.stored_name, rules)]
        if not rows:
            return len(batch_rows), batch_rows[-1].pk

        texts = []
        for record in rows:
            derived.refresh(record, form)
            texts.append(derived.searchable_text(record, form))
            # bulk_update skips pre_save, so the encrypted values are put in place first.
            record.data = data_field.pre_save(record, False)
            record.display_name = name_field.pre_save(record, False)
        Record.objects.bulk_update(rows, RECORD_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                SEARCH_VECTOR_SQL, [settings.TUTELA_SEARCH_LANGUAGE, [r.pk for r in rows], texts]
            )

        by_id = {record.pk: record for record in rows}
        history = list(RecordHistory.objects.filter(record_id__in=by_id))
        for row in history:
            row.record = by_id[row.record_id]
            row.changes = changes_field.pre_save(row, False)
        RecordHistory.objects.bulk_update(history, ["changes"], batch_size=1000)

    progress.records += len(rows)
    progress.history_rows += len(history)
    return len(batch_rows), batch_rows[-1].pk


def needs_rewrite(data: Any, display_name: str | None, rules: Policy) -> bool:
    """Return whether stored values differ from what the policy seals: a sensitive value in
    clear, or an encrypted value of a field that is no longer sensitive."""
    if bool(display_name) and envelope.is_sealed(display_name) != rules.names:
        return True
    if not isinstance(data, dict):
        return False
    for name, value in data.items():
        if value is None:
            continue
        if envelope.is_sealed(value) != (name in rules.fields):
            return True
        if isinstance(value, list) and any(
            row_needs_rewrite(row, rules.subform_fields.get(name, frozenset())) for row in value
        ):
            return True
    return False


def row_needs_rewrite(row: Any, sensitive: frozenset[str]) -> bool:
    if not isinstance(row, dict):
        return False
    return any(
        value is not None and envelope.is_sealed(value) != (name in sensitive)
        for name, value in row.items()
    )


def backfill_texts(batch: int = 500) -> int:
    """Encrypt attachment file names and saved search texts stored in clear; return the count.

    Saving a row runs its SealedTextField, which encrypts a plain value (reading one returns it
    as it is), so the job can run again safely.
    """
    from tutela.attachments.models import Attachment
    from tutela.web.models import SavedSearch

    if not envelope.enabled():
        return 0
    done = 0
    for model, column in ((Attachment, "file_name"), (SavedSearch, "text")):
        last = None
        # Lookups compare the stored text, so encrypted values are left out here.
        plain = model.objects.exclude(**{f"{column}__startswith": envelope.PREFIX}).exclude(
            **{column: ""}
        )
        while True:
            with transaction.atomic():
                rows = plain.select_for_update().order_by("pk")
                if last is not None:
                    rows = rows.filter(pk__gt=last)
                page = list(rows[:batch])
                for row in page:
                    row.save(update_fields=[column])
            if not page:
                break
            done += len(page)
            last = page[-1].pk
    return done
