from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "tutela.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tutela.ops import security_checks  # noqa: F401  (registers the system checks)
