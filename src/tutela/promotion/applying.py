"""Approving a plan and applying it: the one step that changes production's configuration.

Apply runs in one transaction:

1. Take the configuration advisory lock (the lock `load_configuration` takes), and lock the
   records table in EXCLUSIVE mode. Reads go on; a record save waits for the apply and, after
   the lock timeout (5 s, settings.py), fails with a retry-later response.
2. Refuse a plan whose base is no longer the configuration in force (plan again).
3. Snapshot the configuration in force (the rollback point).
4. Load the snapshot: sections and fields it lacks are archived, never deleted, and record data
   is not touched.
5. Write the history and the audit entry.

NOTE: a new record is validated before its INSERT waits for the table lock, so a record created
during an apply may still hold values for a field that the apply archived. Its values are kept
and shown as archived values, as for any record saved before the field was removed.

A process killed at any point before the commit leaves the earlier configuration in force,
because PostgreSQL rolls the whole transaction back. Sessions are not touched: nobody is
signed out.
"""

import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tutela.audit.log import record_event
from tutela.configuration.loading import CONFIGURATION_LOCK
from tutela.promotion import content as snapshot_content
from tutela.promotion.findings import ERROR, WARNING
from tutela.promotion.models import Bundle, BundleStatus, Event, Origin, Plan, PlanStatus
from tutela.promotion.snapshots import create_snapshot

logger = logging.getLogger(__name__)

# How long apply waits for running record saves to finish before it gives up.
APPLY_LOCK_TIMEOUT = "15s"


class PlanRefused(Exception):
    """The plan cannot be approved or applied; the message states why and what to do next."""


def approve_plan(plan: Plan, user: Any, comment: str, acknowledged: list[str]) -> Plan:
    """Approve a plan: errors block, and every warning code must be acknowledged."""
    if plan.status != PlanStatus.PLANNED:
        raise PlanRefused(
            _("Plan %(plan)s is %(status)s; only a planned plan can be approved.")
            % {"plan": plan.pk, "status": plan.status}
        )
    if not comment.strip():
        raise PlanRefused(_("Give a comment with the approval: why this change is right."))
    errors = sorted({f["code"] for f in plan.findings if f["severity"] == ERROR})
    if errors:
        raise PlanRefused(
            _("Plan %(plan)s has errors (%(codes)s); fix them on the demo site and promote again.")
            % {"plan": plan.pk, "codes": ", ".join(errors)}
        )
    warnings = sorted({f["code"] for f in plan.findings if f["severity"] == WARNING})
    missing = [code for code in warnings if code not in acknowledged]
    if missing:
        raise PlanRefused(
            _("Acknowledge each warning to approve: %(codes)s (CLI: --acknowledge CODE for each).")
            % {"codes": ", ".join(missing)}
        )
    with transaction.atomic():
        plan.status = PlanStatus.APPROVED
        plan.approved_by = user
        plan.approved_at = timezone.now()
        plan.comment = comment.strip()
        plan.acknowledged = warnings
        plan.save()
        if plan.bundle_id:
            Bundle.objects.filter(pk=plan.bundle_id).update(
                status=BundleStatus.APPROVED, updated_at=plan.approved_at
            )
        Event.objects.create(
            at=plan.approved_at,
            action="approved",
            actor=user.get_username(),
            plan=plan,
            bundle_id=plan.bundle_id,
            snapshot_id=plan.snapshot_id,
            details={"comment": plan.comment, "acknowledged": warnings},
        )
        record_event(
            "promotion.approve",
            user=user,
            object_type="plan",
            object_id=plan.pk,
            details={"snapshot": plan.snapshot_id, "acknowledged": warnings},
        )
    return plan


def apply_plan(plan: Plan, user: Any) -> Plan:
    """Apply an approved plan (see the module docstring for the steps)."""
    if plan.status != PlanStatus.APPROVED:
        raise PlanRefused(
            _("Plan %(plan)s is %(status)s; approve it before applying.")
            % {"plan": plan.pk, "status": plan.status}
        )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [APPLY_LOCK_TIMEOUT])
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CONFIGURATION_LOCK])
            cursor.execute("LOCK TABLE records_record IN EXCLUSIVE MODE")
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        if plan.status != PlanStatus.APPROVED:
            raise PlanRefused(
                _("Plan %(plan)s is %(status)s; it was applied meanwhile.")
                % {"plan": plan.pk, "status": plan.status}
            )
        before = snapshot_content.current_content()
        if snapshot_content.content_id(before) != plan.base_id:
            raise PlanRefused(
                _(
                    "The configuration changed since plan %(plan)s was made; plan again with "
                    "`tutela config plan %(snapshot)s` and approve the new plan."
                )
                % {"plan": plan.pk, "snapshot": plan.snapshot_id[:12]}
            )
        before_snapshot, _new = create_snapshot(
            f"before plan {plan.pk}", user.get_username(), origin=Origin.AUTOMATIC, sign=False
        )

        import json

        summary = snapshot_content.apply_content(json.loads(plan.snapshot.content))
        _record_applied(plan, user, before_snapshot.id, summary.archived_fields)
    logger.info("Applied plan %s (snapshot %s)", plan.pk, plan.snapshot_id[:12])
    return plan


def _record_applied(plan: Plan, user: Any, before_id: str, archived: list[str]) -> None:
    now = timezone.now()
    previous = Plan.objects.filter(status=PlanStatus.APPLIED).order_by("-applied_at", "-id").first()
    plan.status = PlanStatus.APPLIED
    plan.applied_by = user
    plan.applied_at = now
    plan.before_snapshot_id = before_id
    plan.save()

    if plan.bundle_id:
        Bundle.objects.filter(pk=plan.bundle_id).update(status=BundleStatus.APPLIED, updated_at=now)
    rolled_back = previous.bundle_id if previous is not None else None
    if plan.is_rollback and rolled_back is not None:
        Bundle.objects.filter(pk=rolled_back, status=BundleStatus.APPLIED).exclude(
            pk=plan.bundle_id or 0
        ).update(status=BundleStatus.ROLLED_BACK, updated_at=now)

    action = "rolled_back" if plan.is_rollback else "applied"
    Event.objects.create(
        at=now,
        action=action,
        actor=user.get_username(),
        plan=plan,
        bundle_id=plan.bundle_id,
        snapshot_id=plan.snapshot_id,
        details={"before": before_id, "archived_fields": archived},
    )
    record_event(
        "promotion.rollback" if plan.is_rollback else "promotion.apply",
        user=user,
        object_type="plan",
        object_id=plan.pk,
        details={
            "snapshot": plan.snapshot_id,
            "before": before_id,
            "approved_by": plan.approved_by.get_username() if plan.approved_by else "",
            "archived_fields": archived,
        },
    )
