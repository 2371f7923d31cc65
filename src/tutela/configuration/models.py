"""Configuration as data: record types, form groups, form sections, fields, lookups, locations.

Every item has a `unique_id` that stays the same on the demo and the production site, so a
configuration can be compared and promoted item by item. Translatable texts are JSON objects
keyed by locale.
"""

from typing import Any

from django.db import models
from django.utils.translation import get_language


def translate(texts: dict[str, str] | None, locale: str | None = None) -> str:
    """Pick the text for `locale` (default: the active language), falling back to English."""
    if not texts:
        return ""
    locale = (locale or get_language() or "en").split("-")[0]
    return texts.get(locale) or texts.get("en") or next(iter(texts.values()), "")


class FieldType(models.TextChoices):
    TEXT = "text"
    TEXTAREA = "textarea"
    SELECT = "select"
    RADIO = "radio"
    TICK_BOX = "tick_box"
    NUMBER = "number"
    DATE = "date"
    DATE_TIME = "date_time"
    SUBFORM = "subform"
    SEPARATOR = "separator"
    TALLY = "tally"
    CALCULATED = "calculated"
    PHOTO = "photo"
    AUDIO = "audio"
    DOCUMENT = "document"
    SIGNATURE = "signature"
    LOCATION = "location"


ATTACHMENT_TYPES = frozenset(
    {FieldType.PHOTO, FieldType.AUDIO, FieldType.DOCUMENT, FieldType.SIGNATURE}
)
OPTION_TYPES = frozenset({FieldType.SELECT, FieldType.RADIO, FieldType.TALLY})


class Semantic(models.TextChoices):
    """The role a field plays for duplicate detection, lists and exact lookups."""

    NAME = "name"
    SEX = "sex"
    DATE_OF_BIRTH = "date_of_birth"
    AGE = "age"
    LOCATION = "location"
    ID_NUMBER = "id_number"


class RecordType(models.Model):
    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict)
    order = models.IntegerField(default=0)

    class Meta:
        ordering = ["order", "unique_id"]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def label(self) -> str:
        return translate(self.name) or self.unique_id


class FormGroup(models.Model):
    record_type = models.ForeignKey(RecordType, on_delete=models.CASCADE, related_name="groups")
    unique_id = models.CharField(max_length=100)
    name = models.JSONField(default=dict)
    order = models.IntegerField(default=0)

    class Meta:
        ordering = ["order", "unique_id"]
        constraints = [
            models.UniqueConstraint(fields=["record_type", "unique_id"], name="form_group_unique")
        ]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def label(self) -> str:
        return translate(self.name) or self.unique_id


class FormSection(models.Model):
    record_type = models.ForeignKey(RecordType, on_delete=models.CASCADE, related_name="sections")
    form_group = models.ForeignKey(
        FormGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="sections"
    )
    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict)
    help = models.JSONField(default=dict, blank=True)
    order = models.IntegerField(default=0)
    is_subform = models.BooleanField(default=False)
    visible = models.BooleanField(default=True)
    editable = models.BooleanField(default=True)
    visible_if = models.JSONField(null=True, blank=True)
    # Sections removed from the configuration stay, archived, so the labels of their fields'
    # values stay readable; archived sections are never shown to caseworkers.
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["order", "unique_id"]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def label(self) -> str:
        return translate(self.name) or self.unique_id


class Field(models.Model):
    section = models.ForeignKey(FormSection, on_delete=models.CASCADE, related_name="fields")
    unique_id = models.CharField(max_length=250, unique=True)
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=FieldType.choices)
    label = models.JSONField(default=dict)
    help = models.JSONField(default=dict, blank=True)
    order = models.IntegerField(default=0)
    # Everything else the configuration format allows (validation, options, flags, skip logic,
    # calculation) as given in the configuration document.
    spec = models.JSONField(default=dict, blank=True)
    visible = models.BooleanField(default=True)
    editable = models.BooleanField(default=True)
    show_in_list = models.BooleanField(default=False)
    searchable = models.BooleanField(default=False)
    matchable = models.BooleanField(default=False)
    sensitive = models.BooleanField(default=False)
    semantic = models.CharField(max_length=20, choices=Semantic.choices, blank=True)
    # A field removed from the configuration is archived: records keep its values, which
    # administrators can still read, but new values are rejected.
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def display_label(self) -> str:
        return translate(self.label) or self.name

    @property
    def record_type_id(self) -> int:
        return self.section.record_type_id

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)


class Lookup(models.Model):
    unique_id = models.CharField(max_length=100, unique=True)
    name = models.JSONField(default=dict)
    # [{"id": "...", "label": {locale: text}, "disabled": bool}], in display order.
    options = models.JSONField(default=list)

    class Meta:
        ordering = ["unique_id"]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def label(self) -> str:
        return translate(self.name) or self.unique_id

    def option_ids(self) -> set[str]:
        return {option["id"] for option in self.options}


class Location(models.Model):
    unique_id = models.CharField(max_length=100, unique=True, help_text="Location code")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    admin_level = models.PositiveSmallIntegerField()
    name = models.JSONField(default=dict)
    disabled = models.BooleanField(default=False)

    class Meta:
        ordering = ["admin_level", "unique_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(admin_level__lte=5), name="location_admin_level_0_to_5"
            )
        ]

    def __str__(self) -> str:
        return self.unique_id

    @property
    def label(self) -> str:
        return translate(self.name) or self.unique_id


class ConfigurationState(models.Model):
    """One row whose generation goes up with every configuration change.

    Each process caches compiled forms and compares this number before using them, so a change
    made in one process reaches the others on their next request.
    """

    generation = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"configuration generation {self.generation}"
