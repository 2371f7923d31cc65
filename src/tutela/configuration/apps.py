from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    name = "tutela.configuration"
    label = "configuration"
    verbose_name = "Configuration"
