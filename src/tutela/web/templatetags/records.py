"""Template tags of the record pages."""

from collections.abc import Iterator
from typing import Any

from django import template
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from tutela.web.display import ShownValue
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


@register.simple_tag
def shown_values(values: list[ShownValue]) -> SafeString:
    """{% shown_values values %}: a record's labelled values as a description list.

    Written in Python rather than as an included template: a case page shows a few hundred
    values, and rendering them through the template engine was the largest part of the page's
    time.
    """
    return mark_safe("".join(_values_html(values)))  # noqa: S308 (every part is escaped)


def _values_html(values: list[ShownValue]) -> Iterator[str]:
    no_value = format_html('<span class="none" aria-label="{}">—</span>', _("No value"))
    yield '<dl class="values">'
    for value in values:
        if value.kind == "separator":
            yield format_html('<div class="separator"><dt>{}</dt></div>', value.label)
        elif value.kind == "subform":
            yield format_html('<div class="subform"><dt>{}</dt><dd>', value.label)
            for number, row in enumerate(value.rows, start=1):
                yield format_html(
                    '<div class="row-card"><p class="row-number">{}</p>',
                    _("Row %(number)s") % {"number": number},
                )
                yield from _values_html(row)
                yield "</div>"
            if not value.rows:
                yield format_html('<span class="none">{}</span>', _("No rows"))
            yield "</dd></div>"
        elif value.kind == "attachments":
            yield format_html('<div class="attachments"><dt>{}</dt><dd>', value.label)
            if value.files:
                files = render_to_string(
                    "web/_files.html", {"files": value.files, "input": None, "removable": False}
                )
                yield format_html('<ul class="files">{}</ul>', mark_safe(files))  # noqa: S308
            elif value.text:
                yield conditional_escape(value.text)
            else:
                yield no_value
            yield "</dd></div>"
        else:
            text = linebreaksbr(value.text, autoescape=True) if value.text else no_value
            yield format_html("<div><dt>{}</dt><dd>{}</dd></div>", value.label, text)
    yield "</dl>"
