"""Which values of a record are sensitive, from the configuration in force, and how to seal them.

A top-level field marked sensitive has its whole value encrypted. A subform keeps its rows,
and in each row the values of the subform fields marked sensitive are encrypted. Fields
archived from the configuration keep the flag they had, so their values stay encrypted.

Reading never needs the configuration: an encrypted value is marked by its prefix, so values
encrypted under an older configuration are still decrypted after a field loses the flag.
"""

import threading
from dataclasses import dataclass, field
from typing import Any

from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import RecordType
from tutela.encryption import envelope


@dataclass(frozen=True)
class Policy:
    fields: frozenset[str] = frozenset()
    # Subform field name: names of its sensitive fields.
    subform_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    names: bool = False

    def __bool__(self) -> bool:
        return bool(self.fields or self.subform_fields)


NO_POLICY = Policy()
_lock = threading.Lock()
_type_ids: dict[int, str] = {}
_policies: dict[int, tuple[FormDefinition, Policy]] = {}


def policy_of_form(form: FormDefinition) -> Policy:
    """Return the policy of a form; an empty one while encryption at rest is off."""
    if not envelope.enabled():
        return NO_POLICY
    cached = _policies.get(form.record_type.pk)
    if cached is not None and cached[0] is form:
        return cached[1]
    top = {f.name for f in [*form.fields.values(), *form.archived_fields.values()] if f.sensitive}
    subforms: dict[str, frozenset[str]] = {}
    for name, f in form.fields.items():
        if f.type == "subform" and f.spec.get("subform") in form.subforms:
            inner = frozenset(s.name for s in form.subform_of(f).fields if s.sensitive)
            if inner and name not in top:
                subforms[name] = inner
    names = any(name in top for name in form.semantic.get("name", []))
    policy = Policy(frozenset(top), subforms, names)
    with _lock:
        _policies[form.record_type.pk] = (form, policy)
    return policy


def policy_of_type(record_type_id: int | None) -> Policy:
    if record_type_id is None or not envelope.enabled():
        return NO_POLICY
    unique_id = _type_ids.get(record_type_id)
    if unique_id is None:
        unique_id = RecordType.objects.values_list("unique_id", flat=True).get(pk=record_type_id)
        _type_ids[record_type_id] = unique_id
    return policy_of_form(get_form(unique_id))


def seal_value(name: str, value: Any, policy: Policy) -> Any:
    """Encrypt the parts of one field's value that the policy marks sensitive."""
    if value is None:
        return None
    if name in policy.fields:
        return envelope.seal(value, name)
    inner = policy.subform_fields.get(name)
    if inner and isinstance(value, list):
        return [_seal_row(name, row, inner) for row in value]
    return value


def _seal_row(subform: str, row: Any, inner: frozenset[str]) -> Any:
    if not isinstance(row, dict):
        return row
    return {
        key: envelope.seal(item, f"{subform}.{key}") if key in inner and item is not None else item
        for key, item in row.items()
    }


def unseal_value(name: str, value: Any) -> Any:
    """Decrypt every encrypted part of one field's value."""
    if envelope.is_sealed(value):
        return envelope.unseal(value, name)
    if isinstance(value, list) and any(isinstance(row, dict) for row in value):
        return [
            {key: envelope.unseal(item, f"{name}.{key}") for key, item in row.items()}
            if isinstance(row, dict)
            else row
            for row in value
        ]
    return value


def seal_data(data: dict[str, Any], policy: Policy) -> dict[str, Any]:
    if not policy:
        return data
    return {name: seal_value(name, value, policy) for name, value in data.items()}


def unseal_data(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    return {name: unseal_value(name, value) for name, value in data.items()}


def seal_changes(changes: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Encrypt the old and new values of a history row's sensitive fields."""
    if not policy:
        return changes
    return {
        name: {side: seal_value(name, value, policy) for side, value in change.items()}
        if isinstance(change, dict)
        else change
        for name, change in changes.items()
    }


def unseal_changes(changes: Any) -> Any:
    if not isinstance(changes, dict):
        return changes
    return {
        name: {side: unseal_value(name, value) for side, value in change.items()}
        if isinstance(change, dict)
        else change
        for name, change in changes.items()
    }
