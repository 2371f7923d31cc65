"""The promotion screens: history on both sites; plan, approve and apply on production.

Views are thin: check the user, call one action from plans or applying, render.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from tutela.configuration.permissions import can_manage_configuration
from tutela.promotion import applying, plans
from tutela.promotion.findings import ERROR, describe
from tutela.promotion.models import Bundle, Event, Plan, PlanStatus, Snapshot
from tutela.web.decorators import signed_in

logger = logging.getLogger(__name__)


def promotion_admin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Require a user who may manage configuration. The configuration lock does not apply:
    promotion is how a locked site's configuration changes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_configuration(request.user):
            return render(request, "web/configuration/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return signed_in(wrapper)


@require_GET
@promotion_admin
def history(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "promotion/history.html",
        {
            "bundles": Bundle.objects.select_related("snapshot")[:100],
            "plans": Plan.objects.select_related("approved_by", "applied_by")[:100],
            "snapshots": Snapshot.objects.all()[:100],
            "events": Event.objects.all()[:200],
            "applied": plans.last_applied_plan(),
        },
    )


@require_POST
@promotion_admin
def plan_snapshot(request: HttpRequest, snapshot_id: str) -> HttpResponse:
    snapshot = get_object_or_404(Snapshot, pk=snapshot_id)
    plan = plans.make_plan(snapshot, request.user.get_username())
    return redirect("promotion:plan", plan_id=plan.pk)


@require_GET
@promotion_admin
def plan_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = get_object_or_404(Plan.objects.select_related("snapshot"), pk=plan_id)
    return render(request, "promotion/plan.html", plan_context(plan))


def plan_context(plan: Plan, problem: str = "") -> dict[str, Any]:
    findings = [{**f, "text": describe(f)} for f in plan.findings]
    return {
        "plan": plan,
        "findings": findings,
        "warning_codes": sorted({f["code"] for f in findings if f["severity"] != ERROR}),
        "changes": plan.changes,
        "can_approve": plan.status == PlanStatus.PLANNED and not plan.errors,
        "can_apply": plan.status == PlanStatus.APPROVED,
        "problem": problem,
    }


@require_POST
@promotion_admin
def approve(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = get_object_or_404(Plan.objects.select_related("snapshot"), pk=plan_id)
    try:
        applying.approve_plan(
            plan, request.user, request.POST.get("comment", ""), request.POST.getlist("acknowledge")
        )
    except applying.PlanRefused as e:
        return render(request, "promotion/plan.html", plan_context(plan, str(e)), status=400)
    messages.success(request, _("The plan is approved. Apply it when ready."))
    return redirect("promotion:plan", plan_id=plan.pk)


@require_POST
@promotion_admin
def apply(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = get_object_or_404(Plan.objects.select_related("snapshot"), pk=plan_id)
    try:
        applying.apply_plan(plan, request.user)
    except applying.PlanRefused as e:
        return render(request, "promotion/plan.html", plan_context(plan, str(e)), status=409)
    messages.success(request, _("The configuration of the snapshot is now in force."))
    return redirect("promotion:plan", plan_id=plan.pk)
