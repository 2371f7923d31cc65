"""Sign-in page, the emailed set-password link, forgotten passwords and new users."""

import logging
from typing import Any

from allauth.account.views import LoginView
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from tutela.access.actions import grantable_roles, set_role
from tutela.access.models import User
from tutela.access.permissions import can
from tutela.signin import onboarding
from tutela.signin.forms import ForgotPasswordForm, NewUserForm, SetPasswordForm

logger = logging.getLogger(__name__)


class SignInView(LoginView):
    """allauth's sign-in (password, then the MFA stage when the user has MFA)."""

    template_name = "signin/sign_in.html"


@require_http_methods(["GET", "POST"])
def set_password(request: HttpRequest) -> HttpResponse:
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = onboarding.set_password_from_link(
                form.cleaned_data["token"], form.cleaned_data["new_password1"]
            )
        except onboarding.LinkInvalid as e:
            return render(request, "signin/link_invalid.html", {"reason": e.reason}, status=410)
        messages.success(
            request,
            _("Your password is set. Sign in, then set up two-factor authentication."),
        )
        query = urlencode({"next": reverse("mfa_index")})
        logger.info("User %s set a password through an emailed link", user.pk)
        return redirect(f"{reverse('web:login')}?{query}")
    return render(request, "signin/set_password.html", {"form": form})


@require_http_methods(["GET", "POST"])
def forgot_password(request: HttpRequest) -> HttpResponse:
    form = ForgotPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login = form.cleaned_data["login"].strip()
        user = User.objects.filter(
            Q(username__iexact=login) | Q(email__iexact=login), is_active=True
        ).first()
        if user is not None and user.email and not onboarding.sent_recently(user):
            try:
                onboarding.send_link(user, onboarding.Purpose.PASSWORD_RESET)
            except OSError as e:  # smtplib and ssl errors are OSErrors
                logger.error(
                    "The password reset email to user %s could not be sent: %s",
                    user.pk,
                    type(e).__name__,
                )
        # The same response whether or not the account exists, so the page reveals no accounts.
        return render(request, "signin/forgot_password_sent.html")
    return render(request, "signin/forgot_password.html", {"form": form})


def can_create_users(user: Any) -> bool:
    return can(user, "user", "create")


@login_required
@require_http_methods(["GET", "POST"])
def user_new(request: HttpRequest) -> HttpResponse:
    actor = request.user
    if not isinstance(actor, User) or not can_create_users(actor):
        raise PermissionDenied
    form = NewUserForm(request.POST or None, grantable=grantable_roles(actor))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = onboarding.create_user(
                data["username"],
                data["email"],
                locale=data["locale"],
                created_by=actor,
                first_name=data["first_name"],
                last_name=data["last_name"],
                agency=data["agency"],
            )
            if data["role"]:
                set_role(actor, user, data["role"])
        try:
            onboarding.send_link(user, onboarding.Purpose.ONBOARDING)
        except OSError as e:
            logger.error(
                "The welcome email to user %s could not be sent: %s", user.pk, type(e).__name__
            )
            messages.error(
                request,
                _(
                    "The account %(username)s was created, but the welcome email could not be "
                    "sent. Check the mail settings, then run: tutela user invite %(username)s"
                )
                % {"username": user.username},
            )
        else:
            messages.success(
                request,
                _("The account %(username)s was created and a welcome email sent.")
                % {"username": user.username},
            )
        return redirect("signin:user_new")
    return render(request, "signin/user_new.html", {"form": form})
