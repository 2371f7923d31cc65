"""The `retention` part of the configuration document: checking, loading and dumping it.

```json
"retention": {
  "audit_log_years": 7,
  "records": [
    {"record_type": "case", "closed_years": 10, "action": "anonymise", "keep": ["sex", "age"]},
    {"record_type": "incident", "closed_years": 5, "action": "purge"}
  ]
}
```

A record type without a rule is kept for ever; without `audit_log_years` the audit log is too.
"""

from dataclasses import dataclass
from typing import Any

ACTIONS = ("purge", "anonymise")
SECTION_KEYS = frozenset({"audit_log_years", "records"})
RULE_KEYS = frozenset({"record_type", "closed_years", "action", "keep"})
# Retention shorter than a year is almost certainly a typing error (months for years).
MIN_YEARS = 1
MAX_YEARS = 200


@dataclass(frozen=True)
class RecordRule:
    record_type: str
    closed_years: int
    action: str
    # Fields an anonymised record keeps, such as sex and age for statistics.
    keep: tuple[str, ...] = ()


def check_years(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [(path, f"{value!r} is not a whole number of years.")]
    if not MIN_YEARS <= value <= MAX_YEARS:
        return [(path, f"{value} years is outside {MIN_YEARS} to {MAX_YEARS}.")]
    return []


def check_rule(rule: Any, path: str, record_types: list[str]) -> list[tuple[str, str]]:
    if not isinstance(rule, dict):
        return [(path, "must be an object with record_type, closed_years and action.")]
    problems = [
        (f"{path}.{key}", f"unknown key {key!r}; allowed: {', '.join(sorted(RULE_KEYS))}.")
        for key in rule
        if key not in RULE_KEYS
    ]
    if rule.get("record_type") not in record_types:
        problems.append(
            (
                f"{path}.record_type",
                f"{rule.get('record_type')!r} is not a record type of this document; use one "
                f"of {', '.join(record_types) or '(none)'}.",
            )
        )
    problems += check_years(rule.get("closed_years"), f"{path}.closed_years")
    if rule.get("action") not in ACTIONS:
        problems.append(
            (f"{path}.action", f"{rule.get('action')!r} is not an action; use purge or anonymise.")
        )
    keep = rule.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(name, str) for name in keep):
        problems.append((f"{path}.keep", "must be a list of field names."))
    elif keep and rule.get("action") != "anonymise":
        problems.append((f"{path}.keep", "applies only to the anonymise action."))
    return problems


def check_retention(section: Any, record_types: list[str]) -> list[tuple[str, str]]:
    """Return (path, message) for every problem in the document's `retention` section."""
    if not isinstance(section, dict):
        return [("retention", "must be an object with audit_log_years and records.")]
    problems = [
        (f"retention.{key}", f"unknown key {key!r}; allowed: audit_log_years, records.")
        for key in section
        if key not in SECTION_KEYS
    ]
    if "audit_log_years" in section:
        problems += check_years(section["audit_log_years"], "retention.audit_log_years")
    rules = section.get("records", [])
    if not isinstance(rules, list):
        return [*problems, ("retention.records", "must be a list of rules.")]
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        path = f"retention.records[{index}]"
        problems += check_rule(rule, path, record_types)
        record_type = rule.get("record_type") if isinstance(rule, dict) else None
        if isinstance(record_type, str) and record_type in seen:
            problems.append((f"{path}.record_type", f"{record_type!r} has a rule already."))
        seen.add(str(record_type))
    return problems


def apply_retention(section: dict[str, Any]) -> None:
    """Store the checked `retention` section as the policy in force."""
    from tutela.audit.models import RetentionPolicy

    RetentionPolicy.objects.update_or_create(pk=1, defaults={"document": section})


def dump_retention() -> dict[str, Any] | None:
    from tutela.audit.models import RetentionPolicy

    policy = RetentionPolicy.objects.filter(pk=1).first()
    return policy.document if policy else None


def record_rules(section: dict[str, Any]) -> list[RecordRule]:
    return [
        RecordRule(
            rule["record_type"], rule["closed_years"], rule["action"], tuple(rule.get("keep", []))
        )
        for rule in section.get("records", [])
    ]


def audit_log_years(section: dict[str, Any]) -> int | None:
    years = section.get("audit_log_years")
    return int(years) if years is not None else None
