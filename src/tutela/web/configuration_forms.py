"""The forms of the configuration screens.

Each form turns what the administrator typed into a patch of one item of the configuration
document: a dict of keys to set, where None removes a key. The forms check only the shape of
the input (a number is a number, JSON parses). Every rule of the configuration format is left
to `schema.check_document`, which checks the whole edited document. So a change on screen
meets exactly the rules of an import.
"""

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _

from tutela.configuration.models import FieldType, Semantic
from tutela.configuration.schema import FLAGS, OPTION_FIELD_TYPES, OPTION_SOURCES

FLAG_LABELS = {
    "visible": gettext_lazy("Visible"),
    "editable": gettext_lazy("Editable"),
    "list": gettext_lazy("Shown in record lists"),
    "searchable": gettext_lazy("Part of free-text search"),
    "matchable": gettext_lazy("Compared for duplicates"),
    "sensitive": gettext_lazy("Sensitive (encrypted at rest, masked in logs)"),
}
SOURCE_LABELS = {
    "location": gettext_lazy("Locations"),
    "agency": gettext_lazy("Agencies"),
    "user": gettext_lazy("Users"),
}
INLINE = "inline"
NO_OPTIONS = ""


def locale_label(code: str) -> str:
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


class JsonText(forms.CharField):
    """A JSON value typed into a text area; empty means none."""

    def __init__(self, **kwargs: Any) -> None:
        attrs = {"rows": 6, "dir": "ltr", "spellcheck": "false", "class": "code"}
        kwargs.setdefault("widget", forms.Textarea(attrs=attrs))
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list | bool | int | float):
            return json.dumps(value, ensure_ascii=False, indent=2)
        return value

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise forms.ValidationError(
                _("This is not valid JSON: %(error)s at line %(line)d, column %(column)d.")
                % {"error": e.msg, "line": e.lineno, "column": e.colno}
            ) from None


@dataclass
class TextGroup:
    key: str
    legend: str
    names: list[str]
    required: bool


class ConfigurationForm(forms.Form):
    """A form with translated texts: one input per locale for each text key."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.text_groups: list[TextGroup] = []

    def add_texts(
        self,
        key: str,
        legend: str,
        locales: list[str],
        initial: dict[str, str] | None,
        *,
        required: bool = False,
        textarea: bool = False,
    ) -> None:
        names = []
        for locale in locales:
            name = f"{key}__{locale}"
            attrs = {"lang": locale, "dir": "auto"}
            widget: forms.Widget = (
                forms.Textarea(attrs={**attrs, "rows": 2})
                if textarea
                else forms.TextInput(attrs=attrs)
            )
            self.fields[name] = forms.CharField(
                label=locale_label(locale),
                required=False,
                max_length=4000,
                initial=(initial or {}).get(locale, ""),
                widget=widget,
            )
            names.append(name)
        self.text_groups.append(TextGroup(key, legend, names, required))

    def texts(self, group: TextGroup) -> dict[str, str]:
        values = {}
        for name in group.names:
            text = (self.cleaned_data.get(name) or "").strip()
            if text:
                values[name.split("__", 1)[1]] = text
        return values

    def text_patch(self) -> dict[str, Any]:
        """Texts per key; an empty label is kept empty, so that the schema names it."""
        patch: dict[str, Any] = {}
        for group in self.text_groups:
            values = self.texts(group)
            patch[group.key] = values if values or group.required else None
        return patch

    def patch(self) -> dict[str, Any]:
        return self.text_patch()

    def text_fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(g.legend, [self[name] for name in g.names]) for g in self.text_groups]

    def other_fields(self) -> list[forms.BoundField]:
        texts = {name for g in self.text_groups for name in g.names}
        return [self[name] for name in self.fields if name not in texts]

    def readonly_rows(self) -> list[tuple[str, str]]:
        """Return each input's label and value as text, for a site where editing is locked."""
        legends = {name: g.legend for g in self.text_groups for name in g.names}
        rows = []
        for bound in self:
            label = str(bound.label)
            if bound.name in legends:
                label = f"{legends[bound.name]} ({label})"
            rows.append((label, readonly_text(bound)))
        return rows

    def input_for(self, key: str, rest: str) -> str | None:
        """Return the input that shows a problem at `key` (then `rest`) of the edited item."""
        locale = rest.split(".", 1)[0] if rest else "en"
        if f"{key}__{locale}" in self.fields:
            return f"{key}__{locale}"
        if key in self.fields:
            return key
        return None


def readonly_text(bound: forms.BoundField) -> str:
    field, value = bound.field, bound.value()
    if isinstance(field, forms.BooleanField):
        return _("Yes") if value else _("No")
    if isinstance(field, forms.ChoiceField):
        choices: Any = field.choices
        for key, label in choices:
            if isinstance(label, list | tuple):
                for inner_key, inner_label in label:
                    if inner_key == value:
                        return str(inner_label)
            elif key == value:
                return str(label) if value else ""
        return str(value or "")
    return "" if value is None else str(field.prepare_value(value))


class LabelsForm(ConfigurationForm):
    """The translated texts of one item (its name or label, and help where it has one)."""

    def __init__(
        self,
        *args: Any,
        locales: list[str],
        texts: list[tuple[str, str, dict[str, str] | None, bool]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for key, legend, initial, required in texts:
            self.add_texts(key, legend, locales, initial, required=required, textarea=key == "help")


class OptionForm(LabelsForm):
    disabled = forms.BooleanField(
        label=gettext_lazy("Disabled: no longer offered; records keep it"), required=False
    )

    def patch(self) -> dict[str, Any]:
        return {**self.text_patch(), "disabled": True if self.cleaned_data["disabled"] else None}


class ConditionForm(ConfigurationForm):
    visible_if = JsonText(
        label=gettext_lazy("Shown only when (skip logic)"),
        help_text=gettext_lazy(
            "A condition in JSON, as described beside this form. Empty: always shown."
        ),
    )

    def patch(self) -> dict[str, Any]:
        return {"visible_if": self.cleaned_data["visible_if"]}


class SectionSettingsForm(ConfigurationForm):
    form_group = forms.ChoiceField(label=gettext_lazy("Form group"), required=False)
    visible = forms.BooleanField(label=FLAG_LABELS["visible"], required=False)
    editable = forms.BooleanField(label=FLAG_LABELS["editable"], required=False)

    def __init__(self, *args: Any, groups: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["form_group"].choices = [("", _("No group")), *groups]  # type: ignore[attr-defined]

    def patch(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "form_group": data["form_group"] or None,
            "visible": data["visible"],
            "editable": data["editable"],
        }


class FieldFlagsForm(ConfigurationForm):
    semantic = forms.ChoiceField(
        label=gettext_lazy("Role for duplicates and lists"),
        required=False,
        choices=[("", gettext_lazy("None")), *Semantic.choices],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for flag in FLAGS:
            self.fields[flag] = forms.BooleanField(label=FLAG_LABELS[flag], required=False)
        # The role reads best after the flags.
        self.fields["semantic"] = self.fields.pop("semantic")

    def patch(self) -> dict[str, Any]:
        patch: dict[str, Any] = {flag: self.cleaned_data[flag] for flag in FLAGS}
        patch["semantic"] = self.cleaned_data["semantic"] or None
        return patch


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


class ValidationForm(ConfigurationForm):
    """Validation properties; which ones depends on the field's type."""

    def __init__(self, *args: Any, field_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field_type = field_type
        fields = self.fields
        if field_type not in ("separator", "calculated"):
            fields["required"] = forms.BooleanField(label=gettext_lazy("Required"), required=False)
        if field_type == "text":
            fields["pattern"] = forms.CharField(
                label=gettext_lazy("Pattern"),
                required=False,
                strip=False,
                max_length=1000,
                help_text=gettext_lazy("A regular expression the whole value must match."),
                widget=forms.TextInput(attrs={"dir": "ltr", "class": "code"}),
            )
            fields["min_length"] = forms.IntegerField(
                label=gettext_lazy("Fewest characters"), required=False
            )
        if field_type in ("text", "textarea"):
            fields["max_length"] = forms.IntegerField(
                label=gettext_lazy("Most characters"), required=False
            )
        if field_type == "number":
            fields["min"] = forms.FloatField(label=gettext_lazy("Smallest value"), required=False)
            fields["max"] = forms.FloatField(label=gettext_lazy("Largest value"), required=False)
            fields["integer"] = forms.BooleanField(
                label=gettext_lazy("Whole numbers only"), required=False
            )
        if field_type == "date":
            date = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
            fields["min"] = forms.DateField(
                label=gettext_lazy("Earliest date"), required=False, widget=date
            )
            fields["max"] = forms.DateField(
                label=gettext_lazy("Latest date"), required=False, widget=date
            )
        if field_type in ("date", "date_time"):
            fields["not_future"] = forms.BooleanField(
                label=gettext_lazy("Not in the future"), required=False
            )
        if field_type == "location":
            fields["admin_level"] = forms.IntegerField(
                label=gettext_lazy("Deepest level allowed"), required=False
            )

    def patch(self) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        for key, value in self.cleaned_data.items():
            if isinstance(value, bool):
                patch[key] = True if value else None
            elif key in ("min", "max") and self.field_type == "date":
                patch[key] = value.isoformat() if value else None
            elif key in ("min", "max"):
                patch[key] = _number(value)
            else:
                patch[key] = None if value in (None, "") else value
        return patch


def option_source_choices(lookups: list[tuple[str, str]], *, blank: bool) -> list[Any]:
    choices: list[Any] = [(NO_OPTIONS, _("No options"))] if blank else []
    choices.append((INLINE, _("Options listed below (inline)")))
    choices.append(
        (_("Lookups"), [(f"lookup:{uid}", f"{label} ({uid})") for uid, label in lookups])
    )
    choices.extend((source, SOURCE_LABELS[source]) for source in sorted(OPTION_SOURCES))
    return choices


class OptionsForm(ConfigurationForm):
    """The source of a field's options, its subform and its calculation, by type."""

    def __init__(
        self,
        *args: Any,
        field_type: str,
        lookups: list[tuple[str, str]],
        subforms: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        add_type_properties(self, field_type, lookups, subforms, new=False)

    def patch(self) -> dict[str, Any]:
        return type_properties_patch(self.cleaned_data)


def add_type_properties(
    form: forms.Form,
    field_type: str | None,
    lookups: list[tuple[str, str]],
    subforms: list[tuple[str, str]],
    *,
    new: bool,
) -> None:
    """Add the inputs for options, subform and calculation that `field_type` takes.

    A new field (field_type None) gets them all, because the schema checks which ones its type
    needs.
    """
    fields = form.fields
    if new or field_type in OPTION_FIELD_TYPES:
        fields["options_source"] = forms.ChoiceField(
            label=gettext_lazy("Options"),
            required=False,
            choices=option_source_choices(lookups, blank=new),
            help_text=gettext_lazy(
                "For select, radio and tally fields: a lookup, locations, agencies or users, "
                "or options listed here."
            ),
        )
        # NOTE: inline options and their translations are typed as JSON; per-locale inputs,
        # as lookup options have, would be easier for administrators.
        fields["inline_options"] = JsonText(
            label=gettext_lazy("Inline options"),
            help_text=gettext_lazy(
                'A list such as [{"id": "yes", "label": {"en": "Yes", "fr": "Oui"}}].'
            ),
        )
    if new or field_type == "select":
        fields["multi"] = forms.BooleanField(
            label=gettext_lazy("Several options may be chosen"), required=False
        )
    if new or field_type == "subform":
        fields["subform"] = forms.ChoiceField(
            label=gettext_lazy("Subform section"),
            required=False,
            choices=[("", _("None")), *subforms],
            help_text=gettext_lazy("For subform fields: the section whose rows it holds."),
        )
    if not new and field_type == "subform":
        fields["sort_by"] = forms.CharField(
            label=gettext_lazy("Sort rows by field"), required=False, max_length=100
        )
    if new or field_type == "calculated":
        fields["calculation"] = JsonText(
            label=gettext_lazy("Calculation"),
            help_text=gettext_lazy(
                'For calculated fields: {"op": "sum", "fields": ["a", "b"]}, '
                '"average" likewise, or {"op": "age", "field": "date_of_birth"}.'
            ),
        )


def type_properties_patch(data: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if "options_source" in data:
        source = data["options_source"]
        if source == INLINE:
            # An empty inline list is kept, so that the schema reports what is missing.
            patch["options"] = data.get("inline_options") or []
        else:
            patch["options"] = source or None
    if "multi" in data:
        patch["multi"] = True if data["multi"] else None
    for key in ("subform", "sort_by"):
        if key in data:
            patch[key] = data[key] or None
    if "calculation" in data:
        patch["calculation"] = data["calculation"]
    return patch


def type_properties_initial(field: dict[str, Any]) -> dict[str, Any]:
    options = field.get("options")
    initial = {key: field.get(key) for key in ("multi", "subform", "sort_by", "calculation")}
    if isinstance(options, list):
        initial.update(options_source=INLINE, inline_options=options)
    elif isinstance(options, str):
        initial["options_source"] = options
    return initial


UNIQUE_ID_HELP = gettext_lazy(
    "Letters, digits, '_' and '-'. It stays the same on the demo and production sites and "
    "cannot be changed later."
)


class NewFieldForm(ConfigurationForm):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy(
            "The key the value is stored under: lower-case letters, digits and '_', starting "
            "with a letter. It cannot be changed later."
        ),
        widget=forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}),
    )
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=FieldType.choices)

    def __init__(
        self,
        *args: Any,
        locales: list[str],
        lookups: list[tuple[str, str]],
        subforms: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.add_texts("label", _("Label"), locales, None, required=True)
        add_type_properties(self, None, lookups, subforms, new=True)

    def field_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        field: dict[str, Any] = {"name": data["name"].strip(), "type": data["type"]}
        field.update(self.text_patch())
        for key, value in type_properties_patch(data).items():
            if value is not None:
                field[key] = value
        return field


class NewItemForm(ConfigurationForm):
    """A new form group, section, lookup or lookup option: its id and its name."""

    unique_id = forms.CharField(
        label=gettext_lazy("Unique id"),
        max_length=100,
        help_text=UNIQUE_ID_HELP,
        widget=forms.TextInput(attrs={"dir": "ltr", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, locales: list[str], text_key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        legend = _("Label") if text_key == "label" else _("Name")
        self.add_texts(text_key, legend, locales, None, required=True)


class NewSectionForm(NewItemForm):
    form_group = forms.ChoiceField(label=gettext_lazy("Form group"), required=False)
    subform = forms.BooleanField(
        label=gettext_lazy("Subform section: used only as the rows of a subform field"),
        required=False,
    )

    def __init__(self, *args: Any, groups: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, text_key="name", **kwargs)
        self.fields["form_group"].choices = [("", _("No group")), *groups]  # type: ignore[attr-defined]
