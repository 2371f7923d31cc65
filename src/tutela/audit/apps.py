from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "tutela.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from tutela.audit import signals  # noqa: F401  (connects the sign-in receivers)
