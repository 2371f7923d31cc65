from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "tutela.records"
    label = "records"
    verbose_name = "Records"
