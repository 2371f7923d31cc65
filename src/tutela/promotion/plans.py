"""Dry runs: what applying a snapshot would change on this site, and what it would affect."""

import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

import tutela
from tutela.audit.log import record_event
from tutela.configuration import schema
from tutela.promotion import content as snapshot_content
from tutela.promotion.counts import RecordCounter
from tutela.promotion.diff import FieldInfo, diff_contents, fields_of, index_items
from tutela.promotion.findings import ERROR, WARNING, finding
from tutela.promotion.models import (
    Bundle,
    BundleStatus,
    Event,
    Plan,
    PlanStatus,
    Snapshot,
)
from tutela.promotion.snapshots import version_fits

logger = logging.getLogger(__name__)

# Field types whose stored values fit each other: a change within a group keeps every value valid.
COMPATIBLE_TYPES = ({"text", "textarea"}, {"select", "radio"})
SCOPE_ORDER = {"own": 0, "group": 1, "agency": 2, "all": 3}
ACCESS_ORDER = {"hidden": 0, "read": 1, "write": 2}


def make_plan(snapshot: Snapshot, actor: str, *, bundle: Bundle | None = None) -> Plan:
    """Compare `snapshot` with the configuration in force and store the plan with its findings.

    A plan of a snapshot that this site made or had in force before is a rollback.
    """
    started = time.monotonic()
    with transaction.atomic():
        current = snapshot_content.current_content()
        target: dict[str, Any] = _load(snapshot)
        changes = diff_contents(current, target)
        findings = collect_findings(current, target, snapshot)
        plan = Plan(
            snapshot=snapshot,
            bundle=bundle or latest_bundle(snapshot),
            is_rollback=snapshot.origin != "received" or was_applied(snapshot),
            base_id=snapshot_content.content_id(current),
            status=PlanStatus.PLANNED,
            created_at=timezone.now(),
            created_by=actor,
            changes=changes,
            findings=findings,
            errors=sum(1 for f in findings if f["severity"] == ERROR),
            warnings=sum(1 for f in findings if f["severity"] == WARNING),
            seconds=round(time.monotonic() - started, 3),
        )
        plan.save()
        # A newer plan of the same snapshot replaces an older one that was not applied.
        Plan.objects.filter(
            snapshot=snapshot, status__in=[PlanStatus.PLANNED, PlanStatus.APPROVED]
        ).exclude(pk=plan.pk).update(status=PlanStatus.SUPERSEDED)
        if plan.bundle is not None and plan.bundle.status == BundleStatus.RECEIVED:
            Bundle.objects.filter(pk=plan.bundle.pk).update(
                status=BundleStatus.PLANNED, updated_at=plan.created_at
            )
        Event.objects.create(
            at=plan.created_at,
            action="planned",
            actor=actor,
            bundle=plan.bundle,
            plan=plan,
            snapshot_id=snapshot.id,
            details={"changes": len(changes), "errors": plan.errors, "warnings": plan.warnings},
        )
        record_event(
            "promotion.plan",
            object_type="plan",
            object_id=plan.pk,
            details={
                "snapshot": snapshot.id,
                "errors": plan.errors,
                "warnings": plan.warnings,
                "codes": sorted({f["code"] for f in findings}),
            },
            actor_name=actor,
        )
    logger.info(
        "Planned snapshot %s: %d changes, %d errors, %d warnings in %.2f s",
        snapshot.id[:12],
        len(changes),
        plan.errors,
        plan.warnings,
        plan.seconds,
    )
    return plan


def _load(snapshot: Snapshot) -> dict[str, Any]:
    import json

    value: dict[str, Any] = json.loads(snapshot.content)
    return value


def latest_bundle(snapshot: Snapshot) -> Bundle | None:
    return (
        Bundle.objects.filter(snapshot=snapshot, direction="received")
        .exclude(status=BundleStatus.REJECTED)
        .first()
    )


def was_applied(snapshot: Snapshot) -> bool:
    return Plan.objects.filter(snapshot=snapshot, status=PlanStatus.APPLIED).exists()


def collect_findings(
    current: dict[str, Any], target: dict[str, Any], snapshot: Snapshot
) -> list[dict[str, Any]]:
    counter = RecordCounter()
    found: list[dict[str, Any]] = []
    if not version_fits(snapshot.min_version, snapshot.below_version):
        found.append(
            finding(
                "version_outside_range",
                snapshot.id[:12],
                min=snapshot.min_version,
                below=snapshot.below_version,
                version=tutela.__version__,
            )
        )
    old_fields, new_fields = fields_of(current), fields_of(target)
    found += _field_findings(counter, old_fields, new_fields)
    found += _option_findings(counter, current, target, old_fields, new_fields)
    # A reference that the configuration in force already lacks is not the snapshot's doing.
    known = {(f["item"], f["params"]["target"]) for f in _reference_findings(current)}
    found += [
        f for f in _reference_findings(target) if (f["item"], f["params"]["target"]) not in known
    ]
    found += _role_findings(current, target)
    found += _agency_findings(current, target)
    found += _drift_findings(current)
    return found


def _field_findings(
    counter: RecordCounter, old: dict[str, FieldInfo], new: dict[str, FieldInfo]
) -> list[dict[str, Any]]:
    found = []
    for unique_id, before in sorted(old.items()):
        if before.doc["type"] == "separator":
            continue  # a separator has no value
        after = new.get(unique_id)
        if after is None:
            count = counter.with_value(
                before.record_type, before.doc["name"], before.subform_parents
            )
            if count:
                found.append(finding("field_removed_with_data", unique_id, count))
        elif before.doc["type"] != after.doc["type"] and not _compatible(
            before.doc["type"], after.doc["type"]
        ):
            count = counter.with_value(
                before.record_type, before.doc["name"], before.subform_parents
            )
            if count:
                found.append(
                    finding(
                        "field_type_incompatible",
                        unique_id,
                        count,
                        old=before.doc["type"],
                        new=after.doc["type"],
                    )
                )
    return found


def _compatible(old: str, new: str) -> bool:
    return any(old in group and new in group for group in COMPATIBLE_TYPES)


def _option_findings(
    counter: RecordCounter,
    current: dict[str, Any],
    target: dict[str, Any],
    old_fields: dict[str, FieldInfo],
    new_fields: dict[str, FieldInfo],
) -> list[dict[str, Any]]:
    old_lookups = _lookup_options(current)
    new_lookups = _lookup_options(target)
    found = []
    for unique_id, info in sorted(old_fields.items()):
        if unique_id not in new_fields:
            continue  # a removed field is reported as such, with all its values
        before = _field_option_ids(info, old_lookups)
        after = _field_option_ids(new_fields[unique_id], new_lookups)
        for option in sorted(before - after):
            count = counter.using_option(
                info.record_type, info.doc["name"], info.subform_parents, option
            )
            if count:
                found.append(finding("option_removed_in_use", unique_id, count, option=option))
    return found


def _lookup_options(content: dict[str, Any]) -> dict[str, set[str]]:
    return {
        lookup["unique_id"]: {option["id"] for option in lookup.get("options", [])}
        for lookup in content["configuration"].get("lookups", [])
    }


def _field_option_ids(info: FieldInfo, lookups: dict[str, set[str]]) -> set[str]:
    options = info.doc.get("options")
    if isinstance(options, str) and options.startswith("lookup:"):
        return lookups.get(options.removeprefix("lookup:"), set())
    if isinstance(options, list):
        return {o["id"] for o in options if isinstance(o, dict) and "id" in o}
    return set()


def _reference_findings(target: dict[str, Any]) -> list[dict[str, Any]]:
    document = target["configuration"]
    found = [
        finding("missing_reference", problem.path, target=problem.message)
        for problem in schema.check_document(document)
    ]
    items = index_items(target)
    for role_id, role in sorted(items["role"].items()):
        for section in sorted(role.get("form_sections") or {}):
            if section not in items["form_section"]:
                found.append(
                    finding(
                        "missing_reference", f"role {role_id}", target=f"form section {section}"
                    )
                )
        for other in role.get("grantable_roles") or []:
            if other not in items["role"]:
                found.append(
                    finding("missing_reference", f"role {role_id}", target=f"role {other}")
                )
    for group_id, group in sorted(items["user_group"].items()):
        for agency in group.get("agencies") or []:
            if agency not in items["agency"]:
                found.append(
                    finding(
                        "missing_reference", f"user group {group_id}", target=f"agency {agency}"
                    )
                )
    for location_id, location in sorted(items["location"].items()):
        if location["parent"] and location["parent"] not in items["location"]:
            found.append(
                finding(
                    "missing_reference",
                    f"location {location_id}",
                    target=f"location {location['parent']}",
                )
            )
    return found


def access_removed(before: dict[str, Any], after: dict[str, Any] | None) -> list[str]:
    """Return what a role change takes away: permissions, record scope, section access."""
    if after is None:
        return ["the whole role"]
    removed: list[str] = []
    old_permissions = before.get("permissions") or {}
    new_permissions = after.get("permissions") or {}
    for resource, actions in sorted(old_permissions.items()):
        if not isinstance(actions, list):
            continue
        lost = set(actions) - set(new_permissions.get(resource) or [])
        removed += [f"{resource}.{action}" for action in sorted(lost)]
    if SCOPE_ORDER.get(after.get("record_scope", ""), 0) < SCOPE_ORDER.get(
        before.get("record_scope", ""), 0
    ):
        removed.append(f"record scope {before.get('record_scope')} to {after.get('record_scope')}")
    old_sections, new_sections = before.get("form_sections") or {}, after.get("form_sections") or {}
    for section in sorted(set(old_sections) | set(new_sections)):
        old_access = old_sections.get(section, before.get("form_section_default", "write"))
        new_access = new_sections.get(section, after.get("form_section_default", "write"))
        if ACCESS_ORDER.get(new_access, 0) < ACCESS_ORDER.get(old_access, 0):
            removed.append(f"section {section} {old_access} to {new_access}")
    if before.get("form_section_default") != after.get("form_section_default") and ACCESS_ORDER.get(
        after.get("form_section_default", "write"), 0
    ) < ACCESS_ORDER.get(before.get("form_section_default", "write"), 0):
        removed.append("default section access")
    return removed


def _role_findings(current: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    old_roles = {r["unique_id"]: r for r in current["configuration"].get("roles", [])}
    new_roles = {r["unique_id"]: r for r in target["configuration"].get("roles", [])}
    found = []
    for role_id, before in sorted(old_roles.items()):
        removed = access_removed(before, new_roles.get(role_id))
        if not removed:
            continue
        count = snapshot_content.active_users_with_role(role_id)
        if count:
            what = ", ".join(removed[:5]) + (
                f" and {len(removed) - 5} more" if len(removed) > 5 else ""
            )
            found.append(finding("role_access_removed", role_id, count, what=what))
    return found


def _agency_findings(current: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    kept = {a["unique_id"] for a in target["agencies"]}
    found = []
    for agency in current["agencies"]:
        if agency["unique_id"] in kept:
            continue
        count = snapshot_content.active_users_of_agency(agency["unique_id"])
        if count:
            found.append(finding("agency_removed_in_use", agency["unique_id"], count))
    return found


def last_applied_plan() -> Plan | None:
    return Plan.objects.filter(status=PlanStatus.APPLIED).order_by("-applied_at", "-id").first()


def _drift_findings(current: dict[str, Any]) -> list[dict[str, Any]]:
    last = last_applied_plan()
    if last is None or snapshot_content.content_id(current) == last.snapshot_id:
        return []
    drift = diff_contents(_load(last.snapshot), current)
    items = [f"{c['kind']} {c['id']} {c['change']}" for c in drift[:50]]
    return [finding("production_drift", last.snapshot_id[:12], len(drift), items=items)]
