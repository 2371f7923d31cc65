"""Changing the configuration in force, one edit at a time, as the configuration screens do.

A change is validated exactly like an import. The configuration in force is written out as a
document, and the edit is applied to that document. Then `load_configuration` loads the whole
document, so every rule of `schema.check_document` applies and the load is all or nothing. The
audit entry is written in the same transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from tutela.audit.log import record_event
from tutela.configuration.editing import BASE_LOCALES
from tutela.configuration.loading import (
    CONFIGURATION_LOCK,
    LoadSummary,
    dump_configuration,
    load_configuration,
)
from tutela.configuration.permissions import can_manage_configuration, configuration_locked
from tutela.configuration.schema import ConfigurationInvalid


class ConfigurationLocked(Exception):
    """Local configuration editing is locked on this site (TUTELA_CONFIGURATION_LOCKED)."""


class NotAllowed(Exception):
    """The user may not change the configuration."""


class ChangeInvalid(ConfigurationInvalid):
    """The edited document has problems; `change` names the item the edit was made to."""

    def __init__(self, error: ConfigurationInvalid, change: "Change") -> None:
        super().__init__(error.problems)
        self.change = change


@dataclass
class Change:
    """The audit facts of an edit: the item's kind and unique_id, and the kind of change."""

    object_type: str
    object_id: str
    change: str
    # The path of the edited item in the new document, to place problems next to its form.
    path: str = ""


Edit = Callable[[dict[str, Any]], Change]


@dataclass
class ChangeResult:
    change: Change
    summary: LoadSummary


def change_configuration(user: Any, edit: Edit) -> ChangeResult:
    """Apply `edit` to the configuration in force and load the result, or change nothing.

    1. Take the configuration lock, so that two administrators' changes never interleave:
       each edit is applied to the configuration as the previous change left it.
    2. Write out the configuration document and let `edit` change it (it may raise
       `editing.ItemNotFound`).
    3. Load the whole document; `ChangeInvalid` lists every problem with its path, and the
       transaction rolls back.
    4. Write the audit entry.

    NOTE: an edit sets only the keys it changes, on the configuration as it is when posted.
    There is no version check, so of two administrators editing the same key, the later wins.
    """
    if configuration_locked():
        raise ConfigurationLocked
    if not can_manage_configuration(user):
        raise NotAllowed

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CONFIGURATION_LOCK])
        document = dump_configuration()
        change = edit(document)
        try:
            summary = load_configuration(document)
        except ConfigurationInvalid as e:
            raise ChangeInvalid(e, change) from None
        details: dict[str, Any] = {"change": change.change}
        if summary.archived_fields:
            details["archived_fields"] = summary.archived_fields
        if summary.archived_sections:
            details["archived_sections"] = summary.archived_sections
        record_event(
            "configuration.change",
            user=user,
            object_type=change.object_type,
            object_id=change.object_id,
            details=details,
        )
    return ChangeResult(change, summary)


# Every locale key of the configuration's texts: names, labels and lookup option labels.
LOCALES_IN_USE_SQL = """
SELECT jsonb_object_keys(name) FROM configuration_recordtype WHERE jsonb_typeof(name) = 'object'
UNION SELECT jsonb_object_keys(name) FROM configuration_formgroup
    WHERE jsonb_typeof(name) = 'object'
UNION SELECT jsonb_object_keys(name) FROM configuration_formsection
    WHERE jsonb_typeof(name) = 'object'
UNION SELECT jsonb_object_keys(label) FROM configuration_field WHERE jsonb_typeof(label) = 'object'
UNION SELECT jsonb_object_keys(name) FROM configuration_lookup WHERE jsonb_typeof(name) = 'object'
UNION SELECT jsonb_object_keys(option -> 'label')
    FROM configuration_lookup, jsonb_array_elements(
        CASE WHEN jsonb_typeof(options) = 'array' THEN options ELSE '[]'::jsonb END
    ) AS option
    WHERE jsonb_typeof(option -> 'label') = 'object'
"""


def locales_in_use() -> list[str]:
    """Return the screens' languages, then every other locale that a configuration text uses."""
    with connection.cursor() as cursor:
        cursor.execute(LOCALES_IN_USE_SQL)
        found = {row[0] for row in cursor.fetchall()}
    return [*BASE_LOCALES, *sorted(found - set(BASE_LOCALES))]
