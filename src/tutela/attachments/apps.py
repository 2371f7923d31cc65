from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "tutela.attachments"
    label = "attachments"
    verbose_name = "Attachments"
