"""Findings of a plan: stable codes, severities, exact counts, and their sentences.

Codes are stable, so scripts and tests may rely on them:

- field_removed_with_data (warning): a removed field holds values in N records. The values
  stay in the records, archived and readable to administrators.
- option_removed_in_use (warning): a removed lookup or field option is the value of N records.
- field_type_incompatible (error): a field's type changes to one its N stored values do not fit.
- missing_reference (error): an item names a section, role, agency or location that the
  snapshot lacks.
- production_drift (warning): this site's configuration changed locally since the last apply.
- version_outside_range (error): this Tutela version is outside the snapshot's version range.
- role_access_removed (warning): a role change takes access away from N active users.
- agency_removed_in_use (warning): a removed agency (disabled on apply) has N active users.
"""

from typing import Any

from django.utils.translation import gettext as _

ERROR = "error"
WARNING = "warning"

SEVERITY = {
    "field_removed_with_data": WARNING,
    "option_removed_in_use": WARNING,
    "field_type_incompatible": ERROR,
    "missing_reference": ERROR,
    "production_drift": WARNING,
    "version_outside_range": ERROR,
    "role_access_removed": WARNING,
    "agency_removed_in_use": WARNING,
}


def finding(code: str, item: str, count: int | None = None, **params: Any) -> dict[str, Any]:
    return {
        "code": code,
        "severity": SEVERITY[code],
        "item": item,
        "count": count,
        "params": params,
    }


def describe(found: dict[str, Any]) -> str:
    """Return the finding as a sentence in the active language."""
    values = {"item": found["item"], "count": found["count"], **found["params"]}
    texts = {
        "field_removed_with_data": _(
            "The field %(item)s is removed and holds values in %(count)s records. The values "
            "stay in the records, archived."
        ),
        "option_removed_in_use": _(
            "The option %(option)s is removed from %(item)s and %(count)s records use it."
        ),
        "field_type_incompatible": _(
            "The field %(item)s changes from %(old)s to %(new)s, which its values in "
            "%(count)s records do not fit."
        ),
        "missing_reference": _("%(item)s names %(target)s, which the snapshot does not have."),
        "production_drift": _(
            "This site's configuration changed locally since the last promotion "
            "(%(count)s changed items); applying replaces those changes."
        ),
        "version_outside_range": _(
            "The snapshot fits Tutela %(min)s up to, not including, %(below)s; this site runs "
            "%(version)s."
        ),
        "role_access_removed": _(
            "The change to role %(item)s removes access (%(what)s) from %(count)s active users."
        ),
        "agency_removed_in_use": _(
            "The agency %(item)s is removed and disabled; %(count)s active users belong to it."
        ),
    }
    return texts[found["code"]] % values
