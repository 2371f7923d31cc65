"""Access to the caseworker's pages and the administrators' configuration screens."""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tutela.configuration.permissions import can_manage_configuration, configuration_locked

logger = logging.getLogger(__name__)


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


def configuration_admin(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Require a user who may manage configuration; reject every POST while it is locked.

    The lock is checked here, on the server, for every form the configuration screens post:
    hiding the controls in the templates alone would leave the edits one request away.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_configuration(request.user):
            logger.warning(
                "Rejected %s %s: user %s may not manage configuration",
                request.method,
                request.path,
                request.user.pk,
            )
            return render(request, "web/configuration/forbidden.html", status=403)
        if request.method == "POST" and configuration_locked():
            logger.warning(
                "Rejected POST %s by user %s: configuration editing is locked",
                request.path,
                request.user.pk,
            )
            return render(request, "web/configuration/locked.html", status=403)
        return view(request, *args, **kwargs)

    return signed_in(wrapper)
