from django.apps import AppConfig


class EncryptionConfig(AppConfig):
    name = "tutela.encryption"
    label = "encryption"
    verbose_name = "Encryption at rest"
