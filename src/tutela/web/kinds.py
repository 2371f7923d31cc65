"""The record types the pages serve, and the words each is named with.

Cases, incidents, tracing requests and families share every page. A few phrases differ by type
("Register a case", "Register a family"), and languages inflect them differently, so each is a
whole translated sentence for the four standard types. A type that a configuration adds is
named by its configured label in neutral phrases.
"""

from dataclasses import dataclass

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tutela.configuration.forms import FormDefinition, get_form
from tutela.configuration.models import RecordType

CASE = "case"


@dataclass(frozen=True)
class Words:
    plural: Promise
    register: Promise
    # With %(id)s, the record's short id.
    one: Promise
    registered: Promise


WORDS = {
    "case": Words(
        gettext_lazy("Cases"),
        gettext_lazy("Register a case"),
        gettext_lazy("Case %(id)s"),
        gettext_lazy("Registered case %(id)s."),
    ),
    "incident": Words(
        gettext_lazy("Incidents"),
        gettext_lazy("Register an incident"),
        gettext_lazy("Incident %(id)s"),
        gettext_lazy("Registered incident %(id)s."),
    ),
    "tracing_request": Words(
        gettext_lazy("Tracing requests"),
        gettext_lazy("Register a tracing request"),
        gettext_lazy("Tracing request %(id)s"),
        gettext_lazy("Registered tracing request %(id)s."),
    ),
    "family": Words(
        gettext_lazy("Families"),
        gettext_lazy("Register a family"),
        gettext_lazy("Family %(id)s"),
        gettext_lazy("Registered family %(id)s."),
    ),
}


@dataclass(frozen=True)
class Kind:
    """One record type as the pages name it."""

    record_type: RecordType

    @property
    def unique_id(self) -> str:
        return self.record_type.unique_id

    @property
    def label(self) -> str:
        return self.record_type.label

    @property
    def words(self) -> Words | None:
        return WORDS.get(self.unique_id)

    @property
    def plural(self) -> str:
        return str(self.words.plural) if self.words else self.label

    @property
    def register(self) -> str:
        if self.words:
            return str(self.words.register)
        return _("Register: %(type)s") % {"type": self.label}

    @property
    def possible_duplicate(self) -> str:
        if self.unique_id == CASE:
            return _("This child may already have a case.")
        return _("This may already be registered.")

    @property
    def register_anyway(self) -> str:
        if self.unique_id == CASE:
            return _("This is a new child: register anyway")
        return _("This is someone new: register anyway")

    def one(self, short_id: str) -> str:
        if self.words:
            return str(self.words.one) % {"id": short_id}
        return _("%(type)s %(id)s") % {"type": self.label, "id": short_id}

    def registered(self, short_id: str) -> str:
        if self.words:
            return str(self.words.registered) % {"id": short_id}
        return _("Registered %(type)s %(id)s.") % {"type": self.label, "id": short_id}


def form_of(record_type: str) -> FormDefinition:
    """Return the form of a record type named in an address; 404 when there is none."""
    try:
        return get_form(record_type)
    except LookupError:
        raise Http404 from None


def kinds() -> list[Kind]:
    """Return every configured record type, in the configuration's order (one query)."""
    return [Kind(record_type) for record_type in RecordType.objects.all()]
