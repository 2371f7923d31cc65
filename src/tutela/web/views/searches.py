"""Saving the list's search, opening a saved search, deleting one. All by POST.

A saved search is opened by its id: the server puts its text into the session, where the list
reads it, so the text never appears in an address.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tutela.web import searches
from tutela.web.decorators import signed_in
from tutela.web.kinds import form_of
from tutela.web.models import SavedSearch
from tutela.web.routes import record_url
from tutela.web.views.records import ListFilters, search_session_key, signed_in_user


@require_POST
@signed_in
def save_search(request: HttpRequest, record_type: str) -> HttpResponse:
    form = form_of(record_type)
    user = signed_in_user(request)
    # The list posts its own address parameters; parsing them again keeps only known filters.
    filters = ListFilters.parse(QueryDict(request.POST.get("filters", "")), record_type, form, user)
    list_address = f"{record_url('list', record_type)}?{filters.query()}"
    name = request.POST.get("name", "").strip()[:100]
    if not name:
        messages.error(request, _("Give the search a name to save it."))
        return redirect(list_address)

    stored = request.session.get(search_session_key(record_type)) or {}
    searches.save_search(
        user,
        record_type,
        name,
        stored.get("mode", "text"),
        stored.get("text", ""),
        filters.params(),
    )
    messages.success(request, _("Saved the search “%(name)s”.") % {"name": name})
    return redirect(list_address)


@require_POST
@signed_in
def open_search(request: HttpRequest, record_type: str, search_id: int) -> HttpResponse:
    form = form_of(record_type)
    user = signed_in_user(request)
    saved = get_object_or_404(SavedSearch, pk=search_id, user=user, record_type=record_type)
    key = search_session_key(record_type)
    if saved.text:
        request.session[key] = {"mode": saved.mode, "text": saved.text}
    else:
        request.session.pop(key, None)
    params = QueryDict(mutable=True)
    params.update({k: str(v) for k, v in saved.filters.items()})
    filters = ListFilters.parse(params, record_type, form, user)
    return redirect(f"{record_url('list', record_type)}?{filters.query()}")


@require_POST
@signed_in
def delete_search(request: HttpRequest, record_type: str, search_id: int) -> HttpResponse:
    user = signed_in_user(request)
    saved = get_object_or_404(SavedSearch, pk=search_id, user=user, record_type=record_type)
    searches.delete_search(saved)
    messages.success(request, _("Deleted the saved search “%(name)s”.") % {"name": saved.name})
    return redirect(record_url("list", record_type))
