"""Forms for the emailed set-password link, the forgotten password request and a new user."""

from typing import Any

from allauth.account.forms import LoginForm
from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tutela.access.models import User
from tutela.signin.onboarding import find_link_user


class SetPasswordForm(forms.Form):
    # Filled in by signin.js from the link's fragment; never part of an address.
    token = forms.CharField(widget=forms.HiddenInput, max_length=200)
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters. Several unrelated words make a good password."),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("new_password1"), cleaned.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", _("The two passwords differ. Type the same one twice."))
        elif first:
            user = find_link_user(cleaned.get("token", ""))
            try:
                password_validation.validate_password(first, user)
            except ValidationError as e:
                self.add_error("new_password1", e)
        return cleaned


class ForgotPasswordForm(forms.Form):
    login = forms.CharField(
        label=_("Username or email address"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )


class NewUserForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "locale", "agency"]

    def __init__(self, *args: Any, grantable: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["locale"] = forms.ChoiceField(
            label=_("Language of the welcome email"), choices=settings.LANGUAGES, initial="en"
        )
        # Only the roles that the administrator's own role may give.
        self.fields["role"] = forms.ChoiceField(
            label=_("Role"),
            required=False,
            choices=[("", _("No role"))] + [(role_id, role_id) for role_id in sorted(grantable)],
        )


class SignInForm(LoginForm):
    """allauth's sign-in form with the cursor in the username field, and no placeholder text,
    because the label names what to type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].widget.attrs.pop("placeholder", None)
        self.fields["login"].widget.attrs["autofocus"] = True
        self.fields["password"].widget.attrs.pop("placeholder", None)
        # The page links to the forgotten-password page itself.
        self.fields["password"].help_text = ""
