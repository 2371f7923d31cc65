"""Sign out and the password change that a new account must make first.

The sign-in page is allauth's (tutela.signin.views.SignInView).
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from tutela.access.models import User
from tutela.audit.log import record_event


class SignOutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


class NewPasswordChangeForm(PasswordChangeForm):
    """Django's form, plus: the new password must differ from the current one, so that a
    one-time password printed on a terminal stops working."""

    def clean_new_password1(self) -> str:
        new: str = self.cleaned_data["new_password1"]
        old = self.cleaned_data.get("old_password")
        if old and new == old:
            raise ValidationError(
                _("The new password must differ from the current one."), code="password_unchanged"
            )
        return new


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = reverse_lazy("web:home")
    form_class = NewPasswordChangeForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["forced"] = getattr(self.request.user, "must_change_password", False)
        return context

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        if isinstance(user, User) and user.must_change_password:
            user.must_change_password = False
            user.save(update_fields=["must_change_password"])
        record_event("auth.password_change", user=user, object_type="user", object_id=user.pk)
        messages.success(self.request, _("Your password has been changed."))
        return response
