"""Editing one section of a record, with its uploads and edit conflicts; registering a record.

A save names the version the form was read at. When the record has moved on since, the
user's changes are merged with the other saves (tutela.records.merge). Fields only the user
changed are saved on top of the newer version. For a field both changed, the page shows the
original, the other person's value and the user's, and the user chooses. What the user typed
stays in the form through every round, so nothing is lost.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from tutela.access import permissions
from tutela.access.models import User
from tutela.attachments.actions import AttachmentRejected, add_attachment
from tutela.attachments.models import Attachment
from tutela.configuration.forms import FormDefinition, SectionDef
from tutela.configuration.models import ATTACHMENT_TYPES, Field
from tutela.records.actions import RecordConflict, RecordDisabled, create_record, update_record
from tutela.records.merge import (
    FieldConflict,
    Merge,
    OtherSave,
    merge,
    saves_since,
    values_at_version,
)
from tutela.records.models import Record
from tutela.records.search import find_duplicates
from tutela.records.validation import RecordInvalid, section_shown
from tutela.web import binding
from tutela.web.decorators import signed_in
from tutela.web.display import Display, ShownValue, shown_value
from tutela.web.editing import Input, build_inputs
from tutela.web.kinds import Kind, form_of
from tutela.web.routes import record_url
from tutela.web.views.records import signed_in_user, viewable_record

DUPLICATE_REASONS = {
    "name": gettext_lazy("name"),
    "sex": gettext_lazy("sex"),
    "age": gettext_lazy("age"),
    "location": gettext_lazy("location"),
}
# How often a save is merged again when yet another save lands while it is being merged.
MERGE_ATTEMPTS = 3
CHOICES = ("mine", "theirs")


def form_context(
    form: FormDefinition,
    sections: list[SectionDef],
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    record: Record | None = None,
) -> dict[str, Any]:
    built = build_inputs(form, sections, values, errors or {}, Display(form, record=record))
    return {"inputs": built.inputs, "outside_values": built.outside_values}


def editable_section(form: FormDefinition, record: Record, section_id: str) -> SectionDef:
    section = form.section(section_id)
    if section is None or not section.section.editable or not section_shown(section, record.data):
        raise Http404
    return section


# Editing a section


@dataclass
class SectionPage:
    """What the section form is rendered with, besides its inputs."""

    kind: Kind
    record: Record
    section: SectionDef
    # The version the form's values are based on; the save is made against it.
    version: int
    # The version the user first opened the form at, to show their starting values.
    original: int

    def context(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "record": self.record,
            "section": self.section,
            "version": self.version,
            "original": self.original,
            "title": self.kind.one(self.record.short_id),
        }


@require_http_methods(["GET", "POST"])
@signed_in
def section_edit(
    request: HttpRequest, record_type: str, record_id: uuid.UUID, section_id: str
) -> HttpResponse:
    record = viewable_record(request, record_type, record_id)
    form = form_of(record_type)
    section = editable_section(form, record, section_id)
    access = permissions.section_access(signed_in_user(request), form, section.unique_id)
    if access == "hidden":
        raise Http404
    if access != "write":
        raise PermissionDenied
    page = SectionPage(Kind(form.record_type), record, section, record.version, record.version)

    if request.method == "GET":
        return render_section(
            request, page, form_context(form, [section], record.data, None, record)
        )

    try:
        page.version = int(request.POST.get("version", ""))
        page.original = int(request.POST.get("original", page.version))
    except ValueError:
        return HttpResponseBadRequest(_("The form is missing the version it was read at."))
    if record.disabled:
        messages.error(request, _("This record is disabled; it cannot be edited."))
        return redirect(record_url("view", record_type, record.pk))

    post, upload_errors = store_uploads(request, form, section, record)
    return save_section(request, page, form, post, upload_errors)


def render_section(
    request: HttpRequest, page: SectionPage, form_part: dict[str, Any], **extra: Any
) -> HttpResponse:
    return render(request, "web/section_edit.html", {**page.context(), **form_part, **extra})


def save_section(
    request: HttpRequest,
    page: SectionPage,
    form: FormDefinition,
    post: QueryDict,
    upload_errors: dict[str, list[str]],
) -> HttpResponse:
    """Save the posted section against the version it was read at, merging when it moved on."""
    record, section, user = page.record, page.section, signed_in_user(request)
    base = (
        record.data if record.version == page.version else values_at_version(record, page.version)
    )
    choices = {
        name: post.get(f"resolve.{name}", "")
        for name in post.getlist("conflicts")
        if name in section.by_name
    }
    # Choosing the other person's value means the value they had saved when the choice was
    # shown: the values at the version the form was based on.
    overrides = {name: base.get(name) for name, choice in choices.items() if choice == "theirs"}
    bound = binding.bind_fields(form, [section], post, base, overrides)
    mine = keep_own_attachments(form, section, record, bound.changes)

    if upload_errors:
        messages.error(request, _("Some files were not added; see the fields marked below."))
        context = form_context(form, [section], {**base, **mine}, upload_errors, record)
        return render_section(request, page, context)
    unresolved = [name for name, choice in choices.items() if choice not in CHOICES]
    if unresolved:
        pending = merge(form, values_at_version(record, page.original), mine, record.data)
        return render_conflicts(request, page, form, mine, pending, unresolved)

    changes = mine
    for _attempt in range(MERGE_ATTEMPTS):
        outcome: Merge | None = None
        others: list[OtherSave] = []
        if record.version != page.version:
            outcome = merge(form, base, mine, record.data)
            if outcome.conflicts:
                return render_conflicts(request, page, form, mine, outcome, [])
            changes = outcome.changes
            others = saves_since(record, page.version)
        try:
            update_record(record.pk, changes, user, base_version=record.version)
        except RecordConflict:
            # Another save landed between reading the record and saving; merge with it too.
            record = page.record = Record.objects.select_related("record_type").get(pk=record.pk)
            continue
        except RecordInvalid as e:
            errors = binding.problems_by_input(e.by_path())
            messages.error(
                request, _("The section was not saved: correct the fields marked below.")
            )
            page.version = record.version
            context = form_context(form, [section], {**record.data, **changes}, errors, record)
            return render_section(request, page, context)
        except RecordDisabled:
            messages.error(request, _("This record was disabled meanwhile; it cannot be edited."))
            context = form_context(form, [section], {**record.data, **changes}, None, record)
            return render_section(request, page, context)
        return saved(request, page, form, outcome, others)

    messages.error(request, _("Others keep saving this record. Wait a moment, then save again."))
    page.version = record.version
    context = form_context(form, [section], {**record.data, **changes}, None, record)
    return render_section(request, page, context)


def saved(
    request: HttpRequest,
    page: SectionPage,
    form: FormDefinition,
    outcome: Merge | None,
    others: list[OtherSave],
) -> HttpResponse:
    label = page.section.section.label
    if outcome is None:
        messages.success(request, _("Saved %(section)s.") % {"section": label})
    else:
        fields = {name for save in others for name in save.fields if not name.startswith("$")}
        messages.success(
            request,
            _(
                "Saved %(section)s. Since you opened the form, %(who)s also saved changes to: "
                "%(fields)s. Their changes are kept, and yours are saved on top."
            )
            % {
                "section": label,
                "who": ", ".join(sorted({s.username for s in others if s.username}))
                or _("someone"),
                "fields": ", ".join(field_label(form, name) for name in sorted(fields))
                or _("the record's status"),
            },
        )
    url = record_url("view", page.kind.unique_id, page.record.pk)
    return redirect(f"{url}#section-{page.section.unique_id}")


def field_label(form: FormDefinition, name: str) -> str:
    f = form.fields.get(name) or form.archived_fields.get(name)
    return f.display_label if f else name


# Edit conflicts


@dataclass
class ConflictView:
    """One field both people changed: the three values, and the user's choice so far."""

    name: str
    label: str
    original: ShownValue
    mine: ShownValue
    theirs: ShownValue
    who: str
    choice: str = ""
    error: str = ""

    @property
    def values(self) -> list[ShownValue]:
        return [self.original, self.theirs, self.mine]


def render_conflicts(
    request: HttpRequest,
    page: SectionPage,
    form: FormDefinition,
    mine: dict[str, Any],
    outcome: Merge,
    unresolved: list[str],
) -> HttpResponse:
    """Show the section with the user's values, a choice at each conflicting field, and the
    fields the others changed; the form is now based on the current version."""
    record = page.record
    others = saves_since(record, page.original)
    views = conflict_views(form, record, outcome.conflicts, others, unresolved)
    values = {**record.data, **outcome.changes}
    values.update({conflict.name: conflict.mine for conflict in outcome.conflicts})
    page.version = record.version

    context = form_context(form, [page.section], values, None, record)
    attach_conflicts(context["inputs"], views)
    kept = [field_label(form, name) for name in outcome.kept_theirs]
    return render_section(
        request,
        page,
        context,
        conflicts=views,
        kept_theirs=kept,
        others=sorted({save.username for save in others if save.username}),
        status_changed=any(name.startswith("$") for save in others for name in save.fields),
    )


def conflict_views(
    form: FormDefinition,
    record: Record,
    conflicts: list[FieldConflict],
    others: list[OtherSave],
    unresolved: list[str],
) -> list[ConflictView]:
    display = Display(form, record=record)
    fields = [(form.fields[c.name], c) for c in conflicts if c.name in form.fields]
    display.prefetch((f, value) for f, c in fields for value in (c.base, c.mine, c.theirs))
    views = []
    for f, conflict in fields:
        editors = sorted(
            {save.username for save in others if f.name in save.fields and save.username}
        )
        view = ConflictView(
            name=f.name,
            label=f.display_label,
            original=relabel(shown_value(display, f, conflict.base), _("When you opened the form")),
            mine=relabel(shown_value(display, f, conflict.mine), _("Yours")),
            theirs=relabel(shown_value(display, f, conflict.theirs), _("Theirs")),
            who=", ".join(editors),
        )
        if f.name in unresolved:
            view.error = _("Choose whose value to keep.")
        views.append(view)
    return views


def relabel(value: ShownValue, label: str) -> ShownValue:
    value.label = label
    return value


def attach_conflicts(inputs: list[Input], views: list[ConflictView]) -> None:
    by_name = {view.name: view for view in views}
    for item in inputs:
        item.conflict = by_name.get(item.field.name)


# Uploads


def store_uploads(
    request: HttpRequest, form: FormDefinition, section: SectionDef, record: Record
) -> tuple[QueryDict, dict[str, list[str]]]:
    """Store the files posted with a section; add their ids to the posted values.

    Return the values and, by input name, the files refused and why. A stored file is kept
    even when the save then fails: its id stays in the form, so it is not sent again.
    """
    post = request.POST.copy()
    errors: dict[str, list[str]] = {}
    user = signed_in_user(request)
    for key in request.FILES:
        target = upload_target(form, section, key)
        if target is None:
            continue
        f, field_key = target
        for upload in request.FILES.getlist(key):
            try:
                attachment = add_attachment(record.pk, f, field_key, upload, user)
            except AttachmentRejected as e:
                errors.setdefault(key, []).append(str(e))
                continue
            post.appendlist(key, str(attachment.pk))
    return post, errors


def upload_target(form: FormDefinition, section: SectionDef, key: str) -> tuple[Field, str] | None:
    """Return the attachment field an input name (`f_photo`, `f_rows.2.photo`) stands for, with
    the name its attachments are stored under (`photo`, `rows.photo`)."""
    if not key.startswith(binding.PREFIX):
        return None
    parts = key.removeprefix(binding.PREFIX).split(".")
    top = section.by_name.get(parts[0])
    target: Field | None = None
    if top is not None and len(parts) == 1:
        target, field_key = top, top.name
    elif top is not None and top.type == "subform" and len(parts) == 3 and parts[1].isdigit():
        target = form.subform_of(top).by_name.get(parts[2])
        field_key = f"{top.name}.{parts[2]}"
    if target is None or target.type not in ATTACHMENT_TYPES or not binding.is_bound(target):
        return None
    return target, field_key


def keep_own_attachments(
    form: FormDefinition, section: SectionDef, record: Record, changes: dict[str, Any]
) -> dict[str, Any]:
    """Drop attachment ids that are not this record's own from the posted values."""
    fields = [f for f in section.fields if f.type in ATTACHMENT_TYPES or f.type == "subform"]
    if not any(changes.get(f.name) for f in fields):
        return changes
    own = {str(pk) for pk in Attachment.objects.filter(record=record).values_list("pk", flat=True)}
    kept = dict(changes)
    for f in fields:
        value = kept.get(f.name)
        if f.type in ATTACHMENT_TYPES and isinstance(value, list):
            kept[f.name] = [v for v in value if v in own] or None
        elif f.type == "subform" and isinstance(value, list):
            subform = form.subform_of(f)
            files = [s.name for s in subform.fields if s.type in ATTACHMENT_TYPES]
            for row in value:
                for name in files:
                    if isinstance(row.get(name), list):
                        row[name] = [v for v in row[name] if v in own]
                        if not row[name]:
                            del row[name]
    return kept


# Registering a record


def registration_sections(form: FormDefinition) -> list[SectionDef]:
    """Return the sections a new record starts from: those that hold its name fields, or
    the first section for a type without names."""
    editable = [s for s in form.sections if s.section.editable and s.section.visible and s.fields]
    named = [s for s in editable if any(f.semantic == "name" for f in s.fields)]
    return named or editable[:1]


def initial_values(form: FormDefinition, user: User) -> dict[str, Any]:
    # NOTE: these defaults follow the default configuration's field names; a configurable
    # default value per field would replace them.
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
def record_new(request: HttpRequest, record_type: str) -> HttpResponse:
    form = form_of(record_type)
    kind = Kind(form.record_type)
    user = signed_in_user(request)
    if not permissions.can(user, record_type, "create"):
        raise PermissionDenied
    sections = [
        s
        for s in registration_sections(form)
        if permissions.section_access(user, form, s.unique_id) == "write"
    ]
    if not sections:
        raise PermissionDenied
    checks_duplicates = bool(form.semantic.get("name"))
    page: dict[str, Any] = {"kind": kind, "sections": sections, "confirmed": False}

    if request.method == "GET":
        values = initial_values(form, user)
        return render(
            request, "web/record_new.html", {**page, **form_context(form, sections, values)}
        )

    bound = binding.bind_fields(form, sections, request.POST, {})
    # Files are added once the record exists; ids posted here belong to no record of theirs.
    values = {
        name: value
        for name, value in bound.changes.items()
        if value is not None and form.fields[name].type not in ATTACHMENT_TYPES
    }

    page["confirmed"] = bool(request.POST.get("confirm_new"))
    if checks_duplicates and not page["confirmed"]:
        # Who may search records owned by others learns the short ids of possible duplicates
        # out of their scope, and nothing else about them.
        wide = permissions.can(user, record_type, "search_others")
        scope = None if wide else permissions.record_scope(user, record_type)
        candidates = find_duplicates(record_type, values, scope=scope)
        if candidates:
            visible = set(
                Record.objects.filter(
                    permissions.record_scope(user, record_type),
                    pk__in=[c.record.pk for c in candidates],
                ).values_list("pk", flat=True)
            )
            page["duplicates"] = [
                Duplicate(
                    c.record,
                    c.score,
                    ", ".join(str(DUPLICATE_REASONS.get(r, r)) for r in c.reasons),
                    c.record.pk in visible,
                )
                for c in candidates
            ]
            return render(
                request, "web/record_new.html", {**page, **form_context(form, sections, values)}
            )

    try:
        record = create_record(
            record_type, values, user, required_sections=[s.unique_id for s in sections]
        )
    except RecordInvalid as e:
        errors = binding.problems_by_input(e.by_path())
        messages.error(request, _("Nothing was registered: correct the fields marked below."))
        context = form_context(form, sections, values, errors)
        return render(request, "web/record_new.html", {**page, **context})

    messages.success(request, kind.registered(record.short_id))
    return redirect(record_url("view", record_type, record.pk))
