"""Every change to a record goes through one of these functions.

Each runs in one transaction, locks the record row, checks the version the caller read,
validates the values against the configuration in force, writes one history row with each
changed field's old and new value, and refreshes the derived search columns.
"""

import logging
import secrets
import uuid
from collections.abc import Collection
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tutela.access.models import User
from tutela.audit.log import record_event
from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import RecordType
from tutela.records import derived
from tutela.records.models import Record, RecordHistory, Status
from tutela.records.validation import clean_changes

logger = logging.getLogger(__name__)

# Unambiguous letters and digits: no 0/O, 1/I/L. 31 symbols, 7 of them give 2.7e10 ids.
SHORT_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
SHORT_ID_LENGTH = 7


class RecordConflict(Exception):
    """A save was based on an older version; `fields` changed since that version."""

    def __init__(self, record: Record, base_version: int, fields: list[str]) -> None:
        self.record = record
        self.base_version = base_version
        self.current_version = record.version
        self.fields = fields
        super().__init__(
            f"Record {record.pk} is at version {record.version}, not {base_version}; "
            f"changed since: {', '.join(fields) or 'record status'}"
        )


class RecordDisabled(Exception):
    pass


def new_short_id() -> str:
    raw = "".join(secrets.choice(SHORT_ID_ALPHABET) for _ in range(SHORT_ID_LENGTH))
    return f"{raw[:3]}-{raw[3:]}"


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"old": old.get(name), "new": value}
        for name, value in new.items()
        if old.get(name) != value
    }


def create_record(
    record_type: str,
    values: dict[str, Any],
    user: User | None,
    *,
    enforce_editable: bool = True,
    required_sections: Collection[str] | None = None,
) -> Record:
    """Validate `values` and register a new record owned by `user`.

    Required fields are checked in the sections the values touch and in `required_sections`
    (the sections the caller's form showed, such as a registration form).
    """
    form = get_form(record_type)
    cleaned = clean_changes(
        form,
        values,
        {},
        creating=True,
        enforce_editable=enforce_editable,
        required_sections=required_sections,
    )
    data = {name: value for name, value in cleaned.items() if value is not None}
    now = timezone.now()

    for attempt in range(5):
        record = Record(
            id=uuid.uuid4(),
            record_type=form.record_type,
            short_id=new_short_id(),
            data=data,
            owner=user,
            agency=user.agency if user else None,
            created_by=user,
            created_at=now,
            updated_at=now,
        )
        derived.refresh(record, form)
        try:
            with transaction.atomic():
                record.save(force_insert=True)
                RecordHistory.objects.create(
                    record=record,
                    version=1,
                    action="create",
                    user=user,
                    at=now,
                    changes=diff({}, data),
                )
                derived.store_search_vector(record, form)
                record_event(
                    f"{record_type}.create",
                    user=user,
                    object_type=record_type,
                    object_id=record.pk,
                    details={"fields": sorted(data)},
                )
        except IntegrityError:
            # A short id collision is rare (1 in 2.7e10 per record); draw another.
            if attempt == 4 or not Record.objects.filter(short_id=record.short_id).exists():
                raise
            continue
        logger.info("Created %s record %s", record_type, record.pk)
        return record
    raise AssertionError("unreachable")


def _locked(record_id: uuid.UUID | str) -> Record:
    # OF self: without it, FOR UPDATE also locks the joined record type row, and every save
    # of every record of that type waits for the one before it.
    records = Record.objects.select_for_update(of=("self",)).select_related("record_type")
    return records.get(pk=record_id)


def changed_since(record: Record, base_version: int) -> list[str]:
    """Return the names of fields changed by saves after `base_version`, in order."""
    names: dict[str, None] = {}
    for changes in (
        RecordHistory.objects.filter(record=record, version__gt=base_version)
        .order_by("version")
        .values_list("changes", flat=True)
    ):
        names.update(dict.fromkeys(changes))
    return list(names)


def update_record(
    record_id: uuid.UUID | str,
    changes: dict[str, Any],
    user: User | None,
    *,
    base_version: int,
    enforce_editable: bool = True,
) -> Record:
    """Apply `changes` to a record that the caller read at `base_version`.

    Raise RecordConflict when the record has moved on since then, naming the fields that
    changed; the caller decides what to keep. Nothing is merged silently.
    """
    with transaction.atomic():
        record = _locked(record_id)
        if record.version != base_version:
            raise RecordConflict(record, base_version, changed_since(record, base_version))
        if record.disabled:
            raise RecordDisabled(f"Record {record.pk} is disabled; enable it before editing.")

        form = get_form(record.record_type.unique_id)
        cleaned = clean_changes(
            form,
            changes,
            record.data,
            creating=False,
            enforce_editable=enforce_editable,
            record_id=record.pk,
        )
        changed = diff(record.data, cleaned)
        if not changed:
            return record

        for name, value in cleaned.items():
            if value is None:
                record.data.pop(name, None)
            else:
                record.data[name] = value
        _save_version(record, form, user, "update", changed)
    logger.info("Updated record %s to version %d", record.pk, record.version)
    return record


def _save_version(
    record: Record,
    form: FormDefinition,
    user: User | None,
    action: str,
    changes: dict[str, dict[str, Any]],
) -> None:
    now = timezone.now()
    record.version += 1
    record.updated_at = now
    derived.refresh(record, form)
    record.save()
    derived.store_search_vector(record, form)
    RecordHistory.objects.create(
        record=record, version=record.version, action=action, user=user, at=now, changes=changes
    )
    # Field names only: the audit log says what was changed, the history holds the values.
    record_type = record.record_type.unique_id
    record_event(
        f"{record_type}.{action}",
        user=user,
        object_type=record_type,
        object_id=record.pk,
        details={"fields": sorted(changes), "version": record.version},
    )


def set_status(
    record_id: uuid.UUID | str, status: Status, user: User | None, *, base_version: int
) -> Record:
    """Close or reopen a record."""
    action = "close" if status == Status.CLOSED else "reopen"
    return _set_column(record_id, "status", status.value, user, base_version, action)


def set_disabled(
    record_id: uuid.UUID | str, disabled: bool, user: User | None, *, base_version: int
) -> Record:
    """Disable a record (hidden from lists, kept with its history) or enable it again."""
    action = "disable" if disabled else "enable"
    return _set_column(record_id, "disabled", disabled, user, base_version, action)


def _set_column(
    record_id: uuid.UUID | str,
    column: str,
    value: Any,
    user: User | None,
    base_version: int,
    action: str,
) -> Record:
    with transaction.atomic():
        record = _locked(record_id)
        if record.version != base_version:
            raise RecordConflict(record, base_version, changed_since(record, base_version))
        old = getattr(record, column)
        if old == value:
            return record
        setattr(record, column, value)
        form = get_form(record.record_type.unique_id)
        _save_version(record, form, user, action, {f"${column}": {"old": old, "new": value}})
    logger.info("Set %s of record %s (version %d)", column, record.pk, record.version)
    return record


def archived_values(record: Record) -> dict[str, Any]:
    """Return the values a record holds for fields no longer in the configuration."""
    form = get_form(record.record_type.unique_id)
    return {name: value for name, value in record.data.items() if name not in form.fields}


def record_type_of(unique_id: str) -> RecordType:
    return RecordType.objects.get(unique_id=unique_id)
