from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "tutela.api"
    label = "api"
    verbose_name = "API"
