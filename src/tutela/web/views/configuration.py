"""The configuration screens for administrators: record types, form groups, sections, fields,
lookups and their options, and the location tree (read only).

Every change goes through `changes.change_configuration`: the configuration in force is written
out, the edit is applied to that document and the whole document is loaded again, so a change
made here meets every rule of an import. When the document has problems, nothing changes and
the page shows each problem with its path beside the form.
"""

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tutela.configuration import editing
from tutela.configuration.changes import (
    Change,
    ChangeInvalid,
    ConfigurationLocked,
    Edit,
    change_configuration,
    locales_in_use,
)
from tutela.configuration.loading import field_unique_id
from tutela.configuration.models import (
    Field,
    FormGroup,
    FormSection,
    Location,
    Lookup,
    RecordType,
    translate,
)
from tutela.configuration.permissions import configuration_locked
from tutela.configuration.schema import Problem
from tutela.records.models import Record
from tutela.web import configuration_forms as cf
from tutela.web.decorators import configuration_admin

logger = logging.getLogger(__name__)

TEMPLATES = "web/configuration"
LOCATIONS_PAGE_SIZE = 100


def page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    locked = configuration_locked()
    return render(
        request,
        f"{TEMPLATES}/{template}",
        {"locked": locked, "can_edit": not locked, **context},
        status=status,
    )


def apply_change(
    request: HttpRequest, edit: Edit, form: cf.ConfigurationForm | None = None
) -> list[Problem]:
    """Make the change; return the problems (nothing changed), or an empty list on success."""
    try:
        change_configuration(request.user, edit)
    except ChangeInvalid as e:
        logger.info(
            "Rejected a configuration change (%s of %s %s): %d problems, first %s",
            e.change.change,
            e.change.object_type,
            e.change.object_id,
            len(e.problems),
            e.problems[0].path if e.problems else "-",
        )
        if form is not None:
            place_problems(form, e.problems, e.change.path)
        return e.problems
    except editing.ItemNotFound:
        raise Http404 from None
    except ConfigurationLocked:
        raise PermissionDenied(_("Configuration editing is locked on this site.")) from None
    return []


def place_problems(form: cf.ConfigurationForm, problems: list[Problem], path: str) -> None:
    """Show each problem about the edited item at the input it concerns, where there is one.

    NOTE: problem messages come from `schema.check_document` in English only.
    """
    if not path:
        return
    for problem in problems:
        if not problem.path.startswith(f"{path}."):
            continue
        rest = problem.path.removeprefix(f"{path}.")
        key = re.split(r"[.\[]", rest, maxsplit=1)[0]
        remainder = rest.removeprefix(key).lstrip(".")
        if key == "options" and "options_source" in form.fields:
            name: str | None = "inline_options" if remainder else "options_source"
        else:
            name = form.input_for(key, remainder)
        if name is not None and name in form.fields:
            form.add_error(name, problem.message)


def step_of(request: HttpRequest) -> int:
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        raise Http404
    return -1 if direction == "up" else 1


def moved(request: HttpRequest, done: bool, label: str) -> None:
    if done:
        messages.success(request, _("Moved %(item)s.") % {"item": label})
    else:
        messages.info(request, _("%(item)s is already at that end.") % {"item": label})


def saved(request: HttpRequest, text: str) -> None:
    messages.success(request, text)


# Overview


@require_GET
@configuration_admin
def overview(request: HttpRequest) -> HttpResponse:
    record_types = RecordType.objects.annotate(
        section_count=Count(
            "sections",
            filter=Q(sections__archived=False, sections__is_subform=False),
            distinct=True,
        ),
        field_count=Count(
            "sections__fields",
            filter=Q(sections__archived=False, sections__fields__archived=False),
            distinct=True,
        ),
    )
    levels = Location.objects.values("admin_level").annotate(count=Count("id"))
    return page(
        request,
        "overview.html",
        {
            "record_types": record_types,
            "lookups": Lookup.objects.all(),
            "levels": levels.order_by("admin_level"),
        },
    )


# Record types and form groups


@dataclass
class SectionRun:
    """The sections shown under one form group (or under none), in display order."""

    group: FormGroup | None
    sections: list[FormSection] = field(default_factory=list)


def section_runs(record_type: RecordType) -> tuple[list[SectionRun], list[FormSection]]:
    groups = list(record_type.groups.all())
    sections = list(
        record_type.sections.filter(archived=False).prefetch_related(
            Prefetch("fields", queryset=Field.objects.filter(archived=False))
        )
    )
    runs = {None: SectionRun(None)} | {g.pk: SectionRun(g) for g in groups}
    subforms = []
    for section in sections:
        if section.is_subform:
            subforms.append(section)
        else:
            runs[section.form_group_id].sections.append(section)
    ordered = [runs[None], *(runs[g.pk] for g in groups)]
    return [run for run in ordered if run.group is not None or run.sections], subforms


def get_record_type(record_type: str) -> RecordType:
    return get_object_or_404(RecordType, unique_id=record_type)


@require_http_methods(["GET", "POST"])
@configuration_admin
def record_type_view(request: HttpRequest, record_type: str) -> HttpResponse:
    item = get_record_type(record_type)
    form = cf.LabelsForm(
        request.POST or None,
        locales=locales_in_use(),
        texts=[("name", _("Name"), item.name, True)],
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_record_type(document, record_type)
            editing.apply_patch(found.item, form.patch())
            return Change("record_type", record_type, "label", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Saved the name of %(item)s.") % {"item": record_type})
            return redirect("web:config_record_type", record_type=record_type)

    runs, subforms = section_runs(item)
    context = {
        "record_type": item,
        "runs": runs,
        "subforms": subforms,
        "form": form,
        "problems": problems,
    }
    return page(request, "record_type.html", context)


def group_choices(record_type: RecordType) -> list[tuple[str, str]]:
    return [(g.unique_id, f"{g.label} ({g.unique_id})") for g in record_type.groups.all()]


@require_http_methods(["GET", "POST"])
@configuration_admin
def group_new(request: HttpRequest, record_type: str) -> HttpResponse:
    item = get_record_type(record_type)
    form = cf.NewItemForm(request.POST or None, locales=locales_in_use(), text_key="name")
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():
        unique_id = form.cleaned_data["unique_id"].strip()

        def edit(document: dict[str, Any]) -> Change:
            parent = editing.find_record_type(document, record_type)
            groups = parent.item.setdefault("form_groups", [])
            group = {"unique_id": unique_id, **form.text_patch()}
            found = editing.append(groups, group, f"{parent.path}.form_groups")
            return Change("form_group", unique_id, "add", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Added the form group %(item)s.") % {"item": unique_id})
            return redirect("web:config_record_type", record_type=record_type)
    return new_item_page(
        request,
        form,
        problems,
        title=_("New form group"),
        record_type=item,
        cancel=reverse("web:config_record_type", args=[record_type]),
    )


@require_http_methods(["GET", "POST"])
@configuration_admin
def group_edit(request: HttpRequest, record_type: str, group: str) -> HttpResponse:
    item = get_object_or_404(FormGroup, record_type__unique_id=record_type, unique_id=group)
    form = cf.LabelsForm(
        request.POST or None,
        locales=locales_in_use(),
        texts=[("name", _("Name"), item.name, True)],
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_group(document, record_type, group)
            editing.apply_patch(found.item, form.patch())
            return Change("form_group", group, "label", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Saved the form group %(item)s.") % {"item": group})
            return redirect("web:config_record_type", record_type=record_type)
    context = {
        "title": _("Form group %(label)s") % {"label": item.label},
        "record_type": item.record_type,
        "item_id": group,
        "form": form,
        "problems": problems,
        "cancel": reverse("web:config_record_type", args=[record_type]),
    }
    return page(request, "edit_item.html", context)


@require_POST
@configuration_admin
def group_move(request: HttpRequest, record_type: str, group: str) -> HttpResponse:
    step = step_of(request)
    done = [False]

    def edit(document: dict[str, Any]) -> Change:
        found = editing.find_group(document, record_type, group)
        done[0] = editing.move_in_list(found.siblings, found.item, step)
        return Change("form_group", group, "order", found.path)

    back = reverse("web:config_record_type", args=[record_type]) + "#groups"
    problems = apply_change(request, edit)
    if problems:
        return problems_response(request, problems, back)
    moved(request, done[0], group)
    return redirect(back)


def new_item_page(
    request: HttpRequest,
    form: cf.ConfigurationForm,
    problems: list[Problem],
    *,
    title: str,
    cancel: str,
    **extra: Any,
) -> HttpResponse:
    context = {"title": title, "form": form, "problems": problems, "cancel": cancel, **extra}
    return page(request, "new_item.html", context)


# Sections


def get_section(record_type: str, section: str) -> FormSection:
    return get_object_or_404(
        FormSection.objects.select_related("record_type", "form_group"),
        record_type__unique_id=record_type,
        unique_id=section,
        archived=False,
    )


@require_http_methods(["GET", "POST"])
@configuration_admin
def section_new(request: HttpRequest, record_type: str) -> HttpResponse:
    item = get_record_type(record_type)
    form = cf.NewSectionForm(
        request.POST or None, locales=locales_in_use(), groups=group_choices(item)
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():
        unique_id = form.cleaned_data["unique_id"].strip()

        def edit(document: dict[str, Any]) -> Change:
            parent = editing.find_record_type(document, record_type)
            sections = parent.item.setdefault("form_sections", [])
            section: dict[str, Any] = {
                "unique_id": unique_id,
                **form.text_patch(),
                "form_group": form.cleaned_data["form_group"] or None,
                "subform": form.cleaned_data["subform"],
                "fields": [],
            }
            run = editing.section_run(parent.item, section)
            section["order"] = max((s.get("order", 0) for s in run), default=0) + 1
            found = editing.append(sections, section, f"{parent.path}.form_sections")
            return Change("section", unique_id, "add", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Added the section %(item)s.") % {"item": unique_id})
            return redirect("web:config_section", record_type=record_type, section=unique_id)
    return new_item_page(
        request,
        form,
        problems,
        title=_("New section"),
        record_type=item,
        cancel=reverse("web:config_record_type", args=[record_type]),
    )


@dataclass
class ConditionScope:
    """The fields a condition may name, for the grammar shown beside the editor."""

    fields: list[Field]
    subform: bool


def condition_scope(section: FormSection) -> ConditionScope:
    if section.is_subform:
        fields = Field.objects.filter(section=section, archived=False)
    else:
        fields = Field.objects.filter(
            section__record_type_id=section.record_type_id,
            section__archived=False,
            section__is_subform=False,
            archived=False,
        ).exclude(type="separator")
    return ConditionScope(
        list(fields.order_by("section__order", "order", "id")), section.is_subform
    )


SECTION_PARTS = ("labels", "settings", "visible_if")


@require_http_methods(["GET", "POST"])
@configuration_admin
def section_view(request: HttpRequest, record_type: str, section: str) -> HttpResponse:
    item = get_section(record_type, section)
    part = request.POST.get("part") if request.method == "POST" else None
    if part is not None and part not in SECTION_PARTS:
        return HttpResponseBadRequest(_("The form names no known part of the section."))
    locales = locales_in_use()

    def bound(name: str) -> Any:
        return request.POST if part == name else None

    forms: dict[str, cf.ConfigurationForm] = {
        "labels": cf.LabelsForm(
            bound("labels"),
            locales=locales,
            texts=[("name", _("Name"), item.name, True), ("help", _("Help"), item.help, False)],
            prefix="labels",
        ),
        "settings": cf.SectionSettingsForm(
            bound("settings"),
            groups=group_choices(item.record_type),
            initial={
                "form_group": item.form_group.unique_id if item.form_group else "",
                "visible": item.visible,
                "editable": item.editable,
            },
            prefix="settings",
        ),
        "visible_if": cf.ConditionForm(
            bound("visible_if"), initial={"visible_if": item.visible_if}, prefix="visible_if"
        ),
    }
    problems: dict[str, list[Problem]] = {}
    if part is not None:
        form = forms[part]
        if form.is_valid():
            change = {"labels": "label", "settings": "settings", "visible_if": "visible_if"}[part]

            def edit(document: dict[str, Any]) -> Change:
                found = editing.find_section(document, record_type, section)
                editing.apply_patch(found.item, form.patch())
                return Change("section", section, change, found.path)

            problems[part] = apply_change(request, edit, form)
            if not problems[part]:
                saved(request, _("Saved the section %(item)s.") % {"item": section})
                return redirect(
                    reverse("web:config_section", args=[record_type, section]) + f"#{part}"
                )

    fields = list(item.fields.filter(archived=False))
    context = {
        "record_type": item.record_type,
        "section": item,
        "fields": fields,
        "archived_fields": list(item.fields.filter(archived=True)),
        "forms": forms,
        "problems": problems,
        "scope": condition_scope(item),
    }
    return page(request, "section.html", context)


@require_POST
@configuration_admin
def section_move(request: HttpRequest, record_type: str, section: str) -> HttpResponse:
    step = step_of(request)
    done = [False]

    def edit(document: dict[str, Any]) -> Change:
        parent = editing.find_record_type(document, record_type)
        found = editing.find_section(document, record_type, section)
        done[0] = editing.move_section(parent.item, found.item, step)
        return Change("section", section, "order", found.path)

    back = reverse("web:config_record_type", args=[record_type]) + "#sections"
    problems = apply_change(request, edit)
    if problems:
        return problems_response(request, problems, back)
    moved(request, done[0], section)
    return redirect(back)


@require_http_methods(["GET", "POST"])
@configuration_admin
def section_remove(request: HttpRequest, record_type: str, section: str) -> HttpResponse:
    item = get_section(record_type, section)
    problems: list[Problem] = []
    if request.method == "POST":

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_section(document, record_type, section)
            del found.siblings[found.index]
            return Change("section", section, "remove", found.path)

        problems = apply_change(request, edit)
        if not problems:
            saved(
                request,
                _(
                    "Removed the section %(item)s. Its fields are archived: records keep the "
                    "values they hold."
                )
                % {"item": section},
            )
            return redirect("web:config_record_type", record_type=record_type)
    context = {
        "record_type": item.record_type,
        "section": item,
        "kind": "section",
        "label": item.label,
        "field_count": item.fields.filter(archived=False).count(),
        "problems": problems,
        "cancel": reverse("web:config_section", args=[record_type, section]),
    }
    return page(request, "remove.html", context)


# Fields


def get_field(record_type: str, section: str, name: str) -> Field:
    return get_object_or_404(
        Field.objects.select_related("section__record_type"),
        section__record_type__unique_id=record_type,
        section__unique_id=section,
        section__archived=False,
        name=name,
        archived=False,
    )


def lookup_choices() -> list[tuple[str, str]]:
    return [(lookup.unique_id, translate(lookup.name)) for lookup in Lookup.objects.all()]


def subform_choices(record_type: RecordType) -> list[tuple[str, str]]:
    sections = record_type.sections.filter(is_subform=True, archived=False)
    return [(s.unique_id, f"{s.label} ({s.unique_id})") for s in sections]


def field_id(document: dict[str, Any], record_type: str, section: str, name: str) -> str:
    found = editing.find_section(document, record_type, section)
    return field_unique_id(record_type, found.item, name)


@require_http_methods(["GET", "POST"])
@configuration_admin
def field_new(request: HttpRequest, record_type: str, section: str) -> HttpResponse:
    item = get_section(record_type, section)
    form = cf.NewFieldForm(
        request.POST or None,
        locales=locales_in_use(),
        lookups=lookup_choices(),
        subforms=subform_choices(item.record_type),
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():
        new_field = form.field_document()
        name = new_field["name"]

        def edit(document: dict[str, Any]) -> Change:
            parent = editing.find_section(document, record_type, section)
            fields = parent.item.setdefault("fields", [])
            found = editing.append(fields, new_field, f"{parent.path}.fields")
            unique_id = field_unique_id(record_type, parent.item, name)
            return Change("field", unique_id, "add", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Added the field %(item)s.") % {"item": name})
            return redirect("web:config_field", record_type=record_type, section=section, name=name)
    return new_item_page(
        request,
        form,
        problems,
        title=_("New field in %(section)s") % {"section": item.label},
        record_type=item.record_type,
        section=item,
        cancel=reverse("web:config_section", args=[record_type, section]),
    )


FIELD_PARTS = {
    "labels": "label",
    "flags": "flags",
    "validation": "validation",
    "options": "options",
    "visible_if": "visible_if",
}
TYPES_WITH_OPTIONS_PART = frozenset({"select", "radio", "tally", "subform", "calculated"})


def field_forms(
    item: Field, part: str | None, data: Any, locales: list[str]
) -> dict[str, cf.ConfigurationForm]:
    """Build the forms of the field page; only the form of the posted `part` is bound."""

    def bound(name: str) -> Any:
        return data if part == name else None

    document = {**item.spec, "label": item.label, "help": item.help}
    texts = [("label", _("Label"), item.label, True), ("help", _("Help"), item.help, False)]
    if item.type == "tick_box":
        texts.append(("tick_box_label", _("Tick box text"), item.spec.get("tick_box_label"), False))
    flags = {
        "visible": item.visible,
        "editable": item.editable,
        "list": item.show_in_list,
        "searchable": item.searchable,
        "matchable": item.matchable,
        "sensitive": item.sensitive,
        "semantic": item.semantic,
    }
    forms: dict[str, cf.ConfigurationForm] = {
        "labels": cf.LabelsForm(bound("labels"), locales=locales, texts=texts, prefix="labels"),
        "flags": cf.FieldFlagsForm(bound("flags"), initial=flags, prefix="flags"),
        "validation": cf.ValidationForm(
            bound("validation"), field_type=item.type, initial=document, prefix="validation"
        ),
    }
    if item.type in TYPES_WITH_OPTIONS_PART:
        forms["options"] = cf.OptionsForm(
            bound("options"),
            field_type=item.type,
            lookups=lookup_choices(),
            subforms=subform_choices(item.section.record_type),
            initial=cf.type_properties_initial(document),
            prefix="options",
        )
    if not forms["validation"].fields:
        del forms["validation"]
    forms["visible_if"] = cf.ConditionForm(
        bound("visible_if"),
        initial={"visible_if": item.spec.get("visible_if")},
        prefix="visible_if",
    )
    return forms


@require_http_methods(["GET", "POST"])
@configuration_admin
def field_view(request: HttpRequest, record_type: str, section: str, name: str) -> HttpResponse:
    item = get_field(record_type, section, name)
    part = request.POST.get("part") if request.method == "POST" else None
    forms = field_forms(item, part, request.POST, locales_in_use())
    if part is not None and part not in forms:
        return HttpResponseBadRequest(_("The form names no known part of the field."))

    problems: dict[str, list[Problem]] = {}
    if part is not None and forms[part].is_valid():
        form = forms[part]

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_field(document, record_type, section, name)
            editing.apply_patch(found.item, form.patch())
            unique_id = field_id(document, record_type, section, name)
            return Change("field", unique_id, FIELD_PARTS[part], found.path)

        problems[part] = apply_change(request, edit, form)
        if not problems[part]:
            saved(request, _("Saved the field %(item)s.") % {"item": name})
            return redirect(
                reverse("web:config_field", args=[record_type, section, name]) + f"#{part}"
            )

    context = {
        "record_type": item.section.record_type,
        "section": item.section,
        "field": item,
        "forms": forms,
        "problems": problems,
        "scope": condition_scope(item.section),
    }
    return page(request, "field.html", context)


@require_POST
@configuration_admin
def field_move(request: HttpRequest, record_type: str, section: str, name: str) -> HttpResponse:
    step = step_of(request)
    done = [False]

    def edit(document: dict[str, Any]) -> Change:
        found = editing.find_field(document, record_type, section, name)
        done[0] = editing.move_in_list(found.siblings, found.item, step)
        unique_id = field_id(document, record_type, section, name)
        return Change("field", unique_id, "order", found.path)

    back = reverse("web:config_section", args=[record_type, section]) + "#fields"
    problems = apply_change(request, edit)
    if problems:
        return problems_response(request, problems, back)
    moved(request, done[0], name)
    return redirect(back)


def records_holding(item: Field) -> int | None:
    """Count the records with a value for a field; None for subform fields (kept in rows)."""
    if item.section.is_subform:
        return None
    return Record.objects.filter(
        record_type_id=item.section.record_type_id, data__has_key=item.name
    ).count()


@require_http_methods(["GET", "POST"])
@configuration_admin
def field_remove(request: HttpRequest, record_type: str, section: str, name: str) -> HttpResponse:
    item = get_field(record_type, section, name)
    problems: list[Problem] = []
    if request.method == "POST":

        def edit(document: dict[str, Any]) -> Change:
            unique_id = field_id(document, record_type, section, name)
            found = editing.find_field(document, record_type, section, name)
            del found.siblings[found.index]
            return Change("field", unique_id, "remove", found.path)

        problems = apply_change(request, edit)
        if not problems:
            saved(
                request,
                _("Removed the field %(item)s. It is archived: records keep the values they hold.")
                % {"item": name},
            )
            return redirect("web:config_section", record_type=record_type, section=section)
    context = {
        "record_type": item.section.record_type,
        "section": item.section,
        "field": item,
        "kind": "field",
        "label": item.display_label,
        "records": records_holding(item),
        "problems": problems,
        "cancel": reverse("web:config_field", args=[record_type, section, name]),
    }
    return page(request, "remove.html", context)


# Lookups


@require_http_methods(["GET", "POST"])
@configuration_admin
def lookup_new(request: HttpRequest) -> HttpResponse:
    form = cf.NewItemForm(request.POST or None, locales=locales_in_use(), text_key="name")
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():
        unique_id = form.cleaned_data["unique_id"].strip()

        def edit(document: dict[str, Any]) -> Change:
            lookups = document.setdefault("lookups", [])
            lookups.append({"unique_id": unique_id, **form.text_patch(), "options": []})
            return Change("lookup", unique_id, "add", f"lookups[{len(lookups) - 1}]")

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Added the lookup %(item)s.") % {"item": unique_id})
            return redirect("web:config_lookup", lookup=unique_id)
    return new_item_page(
        request, form, problems, title=_("New lookup"), cancel=reverse("web:config_overview")
    )


@require_http_methods(["GET", "POST"])
@configuration_admin
def lookup_view(request: HttpRequest, lookup: str) -> HttpResponse:
    item = get_object_or_404(Lookup, unique_id=lookup)
    form = cf.LabelsForm(
        request.POST or None,
        locales=locales_in_use(),
        texts=[("name", _("Name"), item.name, True)],
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_lookup(document, lookup)
            editing.apply_patch(found.item, form.patch())
            return Change("lookup", lookup, "label", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Saved the lookup %(item)s.") % {"item": lookup})
            return redirect("web:config_lookup", lookup=lookup)
    options = [
        {**option, "text": translate(option.get("label")) or option.get("id")}
        for option in item.options
    ]
    context = {"lookup": item, "options": options, "form": form, "problems": problems}
    return page(request, "lookup.html", context)


def option_object_id(lookup: str, option: str) -> str:
    return f"{lookup}:{option}"


@require_http_methods(["GET", "POST"])
@configuration_admin
def option_new(request: HttpRequest, lookup: str) -> HttpResponse:
    item = get_object_or_404(Lookup, unique_id=lookup)
    form = cf.NewItemForm(request.POST or None, locales=locales_in_use(), text_key="label")
    form.fields["unique_id"].label = _("Option id")
    form.fields["unique_id"].help_text = _("The value records store. It cannot be changed later.")
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():
        option_id = form.cleaned_data["unique_id"].strip()

        def edit(document: dict[str, Any]) -> Change:
            parent = editing.find_lookup(document, lookup)
            options = parent.item.setdefault("options", [])
            options.append({"id": option_id, **form.text_patch()})
            path = f"{parent.path}.options[{len(options) - 1}]"
            return Change("lookup_option", option_object_id(lookup, option_id), "add", path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Added the option %(item)s.") % {"item": option_id})
            return redirect(reverse("web:config_lookup", args=[lookup]) + "#options")
    return new_item_page(
        request,
        form,
        problems,
        title=_("New option in %(lookup)s") % {"lookup": translate(item.name)},
        lookup=item,
        cancel=reverse("web:config_lookup", args=[lookup]),
    )


@require_http_methods(["GET", "POST"])
@configuration_admin
def option_edit(request: HttpRequest, lookup: str, option: str) -> HttpResponse:
    item = get_object_or_404(Lookup, unique_id=lookup)
    current = next((o for o in item.options if o.get("id") == option), None)
    if current is None:
        raise Http404
    form = cf.OptionForm(
        request.POST or None,
        locales=locales_in_use(),
        texts=[("label", _("Label"), current.get("label"), True)],
        initial={"disabled": bool(current.get("disabled"))},
    )
    problems: list[Problem] = []
    if request.method == "POST" and form.is_valid():

        def edit(document: dict[str, Any]) -> Change:
            found = editing.find_option(document, lookup, option)
            editing.apply_patch(found.item, form.patch())
            return Change("lookup_option", option_object_id(lookup, option), "label", found.path)

        problems = apply_change(request, edit, form)
        if not problems:
            saved(request, _("Saved the option %(item)s.") % {"item": option})
            return redirect(reverse("web:config_lookup", args=[lookup]) + "#options")
    context = {
        "title": _("Option %(label)s") % {"label": translate(current.get("label")) or option},
        "lookup": item,
        "item_id": option,
        "form": form,
        "problems": problems,
        "cancel": reverse("web:config_lookup", args=[lookup]),
    }
    return page(request, "edit_item.html", context)


@require_POST
@configuration_admin
def option_move(request: HttpRequest, lookup: str, option: str) -> HttpResponse:
    step = step_of(request)
    done = [False]

    def edit(document: dict[str, Any]) -> Change:
        found = editing.find_option(document, lookup, option)
        done[0] = editing.move_in_list(found.siblings, found.item, step)
        return Change("lookup_option", option_object_id(lookup, option), "order", found.path)

    back = reverse("web:config_lookup", args=[lookup]) + "#options"
    problems = apply_change(request, edit)
    if problems:
        return problems_response(request, problems, back)
    moved(request, done[0], option)
    return redirect(back)


# Locations (read only)


@require_GET
@configuration_admin
def locations(request: HttpRequest) -> HttpResponse:
    """Browse the location tree: the children of one location, or every location of a level."""
    parent: Location | None = None
    level: int | None = None
    locations = Location.objects.annotate(child_count=Count("children"))
    if request.GET.get("parent"):
        parent = get_object_or_404(Location, unique_id=request.GET["parent"])
        locations = locations.filter(parent=parent)
    elif request.GET.get("level", "").isdigit():
        level = int(request.GET["level"])
        locations = locations.filter(admin_level=level)
    else:
        locations = locations.filter(parent__isnull=True)

    ancestors: list[Location] = []
    walker = parent
    while walker is not None:
        ancestors.insert(0, walker)
        walker = walker.parent
    levels = Location.objects.values("admin_level").annotate(count=Count("id"))
    paginator = Paginator(locations.order_by("unique_id"), LOCATIONS_PAGE_SIZE)
    context = {
        "parent": parent,
        "level": level,
        "ancestors": ancestors,
        "levels": levels.order_by("admin_level"),
        "locations": paginator.get_page(request.GET.get("page")),
    }
    return page(request, "locations.html", context)


def problems_response(request: HttpRequest, problems: list[Problem], back: str) -> HttpResponse:
    return page(request, "problems.html", {"problems": problems, "back": back})
