from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "tutela.access"
    label = "access"
    verbose_name = "Access"
