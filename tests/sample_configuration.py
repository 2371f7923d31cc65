"""A small configuration that exercises every field type, for tests that need exact control."""

import copy
from typing import Any

EN_FR = {"en": "Label", "fr": "Libellé"}


def label(en: str) -> dict[str, str]:
    return {"en": en, "fr": f"{en} (fr)", "ar": f"{en} (ar)"}


SAMPLE: dict[str, Any] = {
    "format": "tutela-configuration/1",
    "locales": ["en", "fr", "ar"],
    "lookups": [
        {
            "unique_id": "lookup-sex",
            "name": label("Sex"),
            "options": [
                {"id": "female", "label": {"en": "Female", "fr": "Féminin"}},
                {"id": "male", "label": {"en": "Male", "fr": "Masculin"}},
            ],
        },
        {
            "unique_id": "lookup-risk",
            "name": label("Risk"),
            "options": [
                {"id": "low", "label": label("Low")},
                {"id": "high", "label": label("High")},
            ],
        },
        {
            "unique_id": "lookup-concern",
            "name": label("Concern"),
            "options": [
                {"id": "neglect", "label": label("Neglect")},
                {"id": "labour", "label": label("Child labour")},
                {"id": "separation", "label": label("Separation")},
            ],
        },
    ],
    "record_types": [
        {
            "unique_id": "case",
            "name": label("Case"),
            "form_groups": [
                {"unique_id": "identity", "name": label("Identity"), "order": 1},
                {"unique_id": "support", "name": label("Support"), "order": 2},
            ],
            "form_sections": [
                {
                    "unique_id": "basic_identity",
                    "name": label("Basic identity"),
                    "form_group": "identity",
                    "order": 1,
                    "fields": [
                        {
                            "name": "name_first",
                            "type": "text",
                            "label": label("First name"),
                            "required": True,
                            "semantic": "name",
                            "searchable": True,
                            "matchable": True,
                            "sensitive": True,
                            "list": True,
                        },
                        {
                            "name": "name_last",
                            "type": "text",
                            "label": label("Last name"),
                            "semantic": "name",
                            "searchable": True,
                            "matchable": True,
                            "sensitive": True,
                            "list": True,
                        },
                        {
                            "name": "sex",
                            "type": "select",
                            "label": label("Sex"),
                            "options": "lookup:lookup-sex",
                            "semantic": "sex",
                            "list": True,
                        },
                        {
                            "name": "date_of_birth",
                            "type": "date",
                            "label": label("Date of birth"),
                            "not_future": True,
                            "semantic": "date_of_birth",
                        },
                        {
                            "name": "age",
                            "type": "number",
                            "label": label("Age"),
                            "min": 0,
                            "max": 25,
                            "integer": True,
                            "semantic": "age",
                        },
                        {
                            "name": "age_calculated",
                            "type": "calculated",
                            "label": label("Age from date of birth"),
                            "calculation": {"op": "age", "field": "date_of_birth"},
                        },
                        {
                            "name": "national_id",
                            "type": "text",
                            "label": label("National id"),
                            "pattern": "[A-Z]{2}[0-9]{6}",
                            "semantic": "id_number",
                        },
                        {
                            "name": "location_current",
                            "type": "location",
                            "label": label("Current location"),
                            "semantic": "location",
                        },
                        {
                            "name": "registration_date",
                            "type": "date",
                            "label": label("Registration date"),
                            "not_future": True,
                        },
                        {"name": "separator_1", "type": "separator", "label": label("Contact")},
                        {"name": "phone", "type": "text", "label": label("Phone")},
                        {"name": "photo", "type": "photo", "label": label("Photo")},
                    ],
                },
                {
                    "unique_id": "protection",
                    "name": label("Protection concerns"),
                    "form_group": "identity",
                    "order": 2,
                    "fields": [
                        {
                            "name": "concerns",
                            "type": "select",
                            "multi": True,
                            "label": label("Concerns"),
                            "options": "lookup:lookup-concern",
                        },
                        {
                            "name": "risk_level",
                            "type": "radio",
                            "label": label("Risk level"),
                            "options": "lookup:lookup-risk",
                        },
                        {
                            "name": "urgent_action",
                            "type": "textarea",
                            "label": label("Urgent action taken"),
                            "visible_if": {"field": "risk_level", "op": "eq", "value": "high"},
                            "required": True,
                        },
                        {
                            "name": "consent",
                            "type": "tick_box",
                            "label": label("Consent given"),
                        },
                        {
                            "name": "visits",
                            "type": "tally",
                            "label": label("Visits"),
                            "options": [
                                {"id": "home", "label": label("Home")},
                                {"id": "school", "label": label("School")},
                            ],
                        },
                        {
                            "name": "reviewed_at",
                            "type": "date_time",
                            "label": label("Reviewed at"),
                            "not_future": True,
                        },
                        {
                            "name": "legacy_note",
                            "type": "text",
                            "label": label("Legacy note"),
                        },
                    ],
                },
                {
                    "unique_id": "services",
                    "name": label("Services"),
                    "form_group": "support",
                    "order": 3,
                    "visible_if": {"not": {"field": "consent", "op": "eq", "value": False}},
                    "fields": [
                        {
                            "name": "services",
                            "type": "subform",
                            "label": label("Services"),
                            "subform": "service_row",
                        },
                    ],
                },
                {
                    "unique_id": "service_row",
                    "name": label("Service"),
                    "subform": True,
                    "fields": [
                        {
                            "name": "service_type",
                            "type": "select",
                            "label": label("Service type"),
                            "options": [
                                {"id": "health", "label": label("Health")},
                                {"id": "education", "label": label("Education")},
                            ],
                            "required": True,
                        },
                        {
                            "name": "sessions_planned",
                            "type": "number",
                            "label": label("Sessions planned"),
                        },
                        {
                            "name": "sessions_done",
                            "type": "number",
                            "label": label("Sessions done"),
                        },
                        {
                            "name": "sessions_total",
                            "type": "calculated",
                            "label": label("Sessions in all"),
                            "calculation": {
                                "op": "sum",
                                "fields": ["sessions_planned", "sessions_done"],
                            },
                        },
                        {
                            "name": "service_date",
                            "type": "date",
                            "label": label("Date"),
                            "not_future": True,
                        },
                    ],
                },
            ],
        },
        {
            "unique_id": "incident",
            "name": label("Incident"),
            "form_sections": [
                {
                    "unique_id": "incident_details",
                    "name": label("Incident details"),
                    "fields": [
                        {
                            "name": "incident_date",
                            "type": "date",
                            "label": label("Date"),
                            "required": True,
                        },
                        {
                            "name": "description",
                            "type": "textarea",
                            "label": label("What happened"),
                        },
                    ],
                }
            ],
        },
    ],
}


def sample() -> dict[str, Any]:
    """Return a fresh deep copy, so that a test can change it freely."""
    return copy.deepcopy(SAMPLE)
