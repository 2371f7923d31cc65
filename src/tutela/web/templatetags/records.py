"""Template tags of the record pages."""

from typing import Any

from django import template

from tutela.web.kinds import Kind, kinds
from tutela.web.routes import record_url as url_of

register = template.Library()


@register.simple_tag
def record_url(view: str, record_type: str, *args: Any) -> str:
    """{% record_url "view" kind.unique_id record.pk %}: the address of a record page."""
    return url_of(view, record_type, *args)


@register.simple_tag
def record_kinds() -> list[Kind]:
    """{% record_kinds as kinds %}: the configured record types, for the main menu."""
    return kinds()
