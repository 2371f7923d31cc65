"""Model fields that encrypt sensitive values on the way to the database and decrypt them on
the way back, so that the rest of the code reads and writes plain values.

Encryption happens in `pre_save`, which Django calls for `save()` and `bulk_create()`;
`QuerySet.update()` and `bulk_update()` skip it and would store plain values, so record
values are never written that way. Lookups into the form data (`data__contains`) compare
against the stored form, so they cannot match an encrypted value: exact-match search on a
sensitive field uses the keyed hashes in `Record.search_tokens` instead.
"""

from typing import Any

from django.db import models
from django.db.models.fields.json import KeyTransform

from tutela.encryption import envelope, policy

DISPLAY_NAME = "$display_name"


# The attribute where tutela.records.derived.refresh leaves the policy it applied, which
# saves a configuration query per encrypted column.
POLICY_ATTRIBUTE = "_sealing_policy"


def policy_of_instance(instance: models.Model) -> policy.Policy:
    """Return the policy of a record, or of the record a history row belongs to."""
    record = instance if hasattr(instance, "record_type_id") else getattr(instance, "record", None)
    if record is None:
        return policy.NO_POLICY
    cached = getattr(record, POLICY_ATTRIBUTE, None)
    if isinstance(cached, policy.Policy):
        return cached
    return policy.policy_of_type(record.record_type_id)


class SealedJSONField(models.JSONField):
    """A record's form data (`kind="data"`) or a history row's changes (`kind="changes"`)."""

    def __init__(self, *args: Any, kind: str = "data", **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.kind
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        rules = policy_of_instance(model_instance)
        if self.kind == "changes":
            return policy.seal_changes(value, rules)
        return policy.seal_data(value, rules)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if isinstance(expression, KeyTransform):
            return policy.unseal_value(str(expression.key_name), value)
        if self.kind == "changes":
            return policy.unseal_changes(value)
        return policy.unseal_data(value)


class SealedDisplayNameField(models.TextField):  # type: ignore[type-arg]
    """A record's display name, encrypted when the record type's name fields are sensitive."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value and policy_of_instance(model_instance).names:
            return envelope.seal(value, DISPLAY_NAME)
        return value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return envelope.unseal(value, DISPLAY_NAME)


class SealedTextField(models.TextField):  # type: ignore[type-arg]
    """Text that may name a child (a file name, a saved search), encrypted whenever encryption
    at rest is on. `label` binds each value to its column, as a field name does for values."""

    def __init__(self, *args: Any, label: str = "", **kwargs: Any) -> None:
        self.label = label
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["label"] = self.label
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value and envelope.enabled():
            return envelope.seal(value, self.label)
        return value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return envelope.unseal(value, self.label)
