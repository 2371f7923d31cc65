"""Request and response shapes of the API, which also make up its OpenAPI schema."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from tutela.records.models import Status


class RecordSerializer(serializers.Serializer[Any]):
    # Fields named "data" shadow Serializer.data for type checkers only; DRF handles them.
    id = serializers.UUIDField()
    short_id = serializers.CharField()
    record_type = serializers.CharField(source="record_type.unique_id")
    status = serializers.ChoiceField(choices=Status.choices)
    workflow_stage = serializers.CharField()
    disabled = serializers.BooleanField()
    version = serializers.IntegerField(help_text="Send it back in If-Match to change the record.")
    owner = serializers.CharField(source="owner.username", allow_null=True, default=None)
    agency = serializers.CharField(source="agency.unique_id", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    data = serializers.DictField(help_text="Form values by field name.")  # type: ignore[assignment]


class RecordPageSerializer(serializers.Serializer[Any]):
    results = RecordSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as `cursor` to get the next page; null on the last."
    )


WRITE_HELP = "Form values by field name; null clears a value."


class RecordWriteSerializer(serializers.Serializer[Any]):
    data = serializers.DictField(help_text=WRITE_HELP)  # type: ignore[assignment]


class DateRangeSerializer(serializers.Serializer[Any]):
    # "from" is a Python keyword, hence the explicit field names.
    start = serializers.DateField(required=False, allow_null=True)
    end = serializers.DateField(required=False, allow_null=True)


class SearchSerializer(serializers.Serializer[Any]):
    """The body of a search. An unknown key is rejected, so a misspelt filter is not ignored."""

    text = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Free text over searchable fields, or an exact case id, short id or id number.",
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Fuzzy name search: spelling variants, Latin or Arabic script, any word order.",
    )
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    owner = serializers.ChoiceField(choices=["me", "all"], required=False, default="all")
    include_disabled = serializers.BooleanField(required=False, default=False)
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Select, radio, tick box or location field name to an option id or a list.",
    )
    dates = serializers.DictField(
        child=DateRangeSerializer(),
        required=False,
        default=dict,
        help_text="Date field name to {start, end}.",
    )
    sort = serializers.ChoiceField(
        choices=["updated", "-updated", "created", "-created", "short_id", "name"],
        required=False,
        default="updated",
    )
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=500)
    limit = serializers.IntegerField(required=False, default=25, min_value=1, max_value=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = [key for key in self.initial_data if key not in self.fields]
        if unknown:
            accepted = ", ".join(self.fields)
            raise serializers.ValidationError(
                {
                    key: _("%(key)s is not a search key. The accepted keys are: %(accepted)s.")
                    % {"key": key, "accepted": accepted}
                    for key in unknown
                }
            )
        return attrs


class DuplicateCheckSerializer(serializers.Serializer[Any]):
    data = serializers.DictField(help_text="Values to register.")  # type: ignore[assignment]


class DuplicateSerializer(serializers.Serializer[Any]):
    record = RecordSerializer()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())


class HistorySerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    action = serializers.CharField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    at = serializers.DateTimeField()
    changes = serializers.DictField(help_text="Field name to {old, new}.")


class ReferralSerializer(serializers.Serializer[Any]):
    recipient = serializers.CharField(max_length=150, help_text="The username to refer to.")


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()
