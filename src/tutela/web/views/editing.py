"""Editing one section of a case, and registering a new case."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from tutela.access.scopes import can_view_record
from tutela.configuration.forms import FormDefinition, SectionDef, get_form
from tutela.records.actions import RecordConflict, RecordDisabled, create_record, update_record
from tutela.records.models import Record
from tutela.records.search import find_duplicates
from tutela.records.validation import RecordInvalid, section_shown
from tutela.web import binding
from tutela.web.decorators import signed_in
from tutela.web.display import Display
from tutela.web.editing import build_inputs
from tutela.web.views.cases import RECORD_TYPE, signed_in_user, viewable_case

DUPLICATE_REASONS = {
    "name": gettext_lazy("name"),
    "sex": gettext_lazy("sex"),
    "age": gettext_lazy("age"),
    "location": gettext_lazy("location"),
}


def form_context(
    form: FormDefinition,
    sections: list[SectionDef],
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    built = build_inputs(form, sections, values, errors or {}, Display(form))
    return {"inputs": built.inputs, "outside_values": built.outside_values}


@require_http_methods(["GET", "POST"])
@signed_in
def section_edit(request: HttpRequest, record_id: uuid.UUID, section_id: str) -> HttpResponse:
    record = viewable_case(request, record_id)
    form = get_form(RECORD_TYPE)
    section = form.section(section_id)
    if section is None or not section.section.editable or not section_shown(section, record.data):
        raise Http404
    page = {"record": record, "section": section, "version": record.version}

    if request.method == "GET":
        return render_section(request, page, form_context(form, [section], record.data))

    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        return HttpResponseBadRequest(_("The form is missing the version it was read at."))
    bound = binding.bind_fields(form, [section], request.POST, record.data)
    values = {**record.data, **bound.changes}
    page["version"] = version

    try:
        update_record(record.pk, bound.changes, signed_in_user(request), base_version=version)
    except RecordInvalid as e:
        errors = binding.problems_by_input(e.by_path())
        messages.error(request, _("The section was not saved: correct the fields marked below."))
        return render_section(request, page, form_context(form, [section], values, errors))
    except RecordConflict as e:
        page.update(conflict_context(form, e))
        # Saving again applies the user's values over the newer version, knowingly.
        page["version"] = e.current_version
        return render_section(request, page, form_context(form, [section], values))
    except RecordDisabled:
        messages.error(request, _("This case is disabled; it cannot be edited."))
        return redirect("web:case_view", record_id=record.pk)

    messages.success(request, _("Saved %(section)s.") % {"section": section.section.label})
    return redirect(reverse("web:case_view", args=[record.pk]) + f"#section-{section.unique_id}")


def render_section(
    request: HttpRequest, page: dict[str, Any], form_part: dict[str, Any]
) -> HttpResponse:
    return render(request, "web/section_edit.html", {**page, **form_part})


@dataclass
class ChangedField:
    label: str
    current: str


def conflict_context(form: FormDefinition, conflict: RecordConflict) -> dict[str, Any]:
    """List the fields someone else changed since the user opened the form, with values now."""
    display = Display(form)
    known = [(form.fields[name], name) for name in conflict.fields if name in form.fields]
    display.prefetch((f, conflict.record.data.get(name)) for f, name in known)
    changed = [
        ChangedField(f.display_label, display.text(f, conflict.record.data.get(name)))
        for f, name in known
    ]
    if any(name.startswith("$") for name in conflict.fields):
        changed.append(ChangedField(_("Case status"), conflict.record.get_status_display()))
    return {"conflict": changed}


def registration_sections(form: FormDefinition) -> list[SectionDef]:
    """Return the sections a new case starts from: those that contain the child's name."""
    return [
        section
        for section in form.sections
        if section.section.editable and any(f.semantic == "name" for f in section.fields)
    ]


def initial_values(form: FormDefinition, request: HttpRequest) -> dict[str, Any]:
    # NOTE: these defaults follow the default configuration's field names; a configurable
    # default value per field would replace them.
    user = signed_in_user(request)
    values: dict[str, Any] = {"registration_date": timezone.localdate().isoformat()}
    if form.fields.get("assigned_caseworker"):
        values["assigned_caseworker"] = user.username
    if form.fields.get("registering_agency") and user.agency is not None:
        values["registering_agency"] = user.agency.unique_id
    return {name: value for name, value in values.items() if name in form.fields}


@dataclass
class Duplicate:
    record: Record
    score: float
    reasons: str
    visible: bool


@require_http_methods(["GET", "POST"])
@signed_in
def case_new(request: HttpRequest) -> HttpResponse:
    form = get_form(RECORD_TYPE)
    sections = registration_sections(form)
    page: dict[str, Any] = {"sections": sections, "confirmed": False}

    if request.method == "GET":
        values = initial_values(form, request)
        return render(
            request, "web/case_new.html", {**page, **form_context(form, sections, values)}
        )

    bound = binding.bind_fields(form, sections, request.POST, {})
    values = {name: value for name, value in bound.changes.items() if value is not None}

    user = signed_in_user(request)
    page["confirmed"] = bool(request.POST.get("confirm_new"))
    if not page["confirmed"]:
        candidates = find_duplicates(RECORD_TYPE, values)
        if candidates:
            page["duplicates"] = [
                Duplicate(
                    c.record,
                    c.score,
                    ", ".join(str(DUPLICATE_REASONS.get(r, r)) for r in c.reasons),
                    can_view_record(user, c.record),
                )
                for c in candidates
            ]
            return render(
                request, "web/case_new.html", {**page, **form_context(form, sections, values)}
            )

    try:
        record = create_record(
            RECORD_TYPE, values, user, required_sections=[s.unique_id for s in sections]
        )
    except RecordInvalid as e:
        errors = binding.problems_by_input(e.by_path())
        messages.error(request, _("The case was not registered: correct the fields marked below."))
        context = form_context(form, sections, values, errors)
        return render(request, "web/case_new.html", {**page, **context})

    messages.success(request, _("Registered case %(id)s.") % {"id": record.short_id})
    return redirect("web:case_view", record_id=record.pk)
