"""Addresses of the record pages: /records/<type>/... for every type, /cases/... for cases.

Cases keep their shorter addresses (and the names the pages had before other types were
served), so bookmarks and links into case pages stay valid.
"""

from typing import Any

from django.urls import reverse

CASE = "case"
# Names of the /cases/ routes that differ from "case_<view>".
CASE_NAMES = {"edit": "section_edit"}


def case_route_name(view: str) -> str:
    return CASE_NAMES.get(view, f"case_{view}")


def record_url(view: str, record_type: str, *args: Any) -> str:
    """Return the address of a record page: `view` is list, new, view, history, edit, ..."""
    if record_type == CASE:
        return reverse(f"web:{case_route_name(view)}", args=args)
    return reverse(f"web:record_{view}", args=[record_type, *args])
