"""Access to the caseworker's pages."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def signed_in(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Require a signed-in user who has set their own password.

    An account created with a one-time password (such as the quick start's `admin`) must
    choose a new one before it can open any record.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request.user, "must_change_password", False):
            return redirect("web:password_change")
        return view(request, *args, **kwargs)

    return login_required(wrapper)
