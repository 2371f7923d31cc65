from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SigninConfig(AppConfig):
    name = "tutela.signin"
    verbose_name = _("Sign-in")

    def ready(self) -> None:
        from tutela.signin import signals  # noqa: F401  (connects the receivers)
