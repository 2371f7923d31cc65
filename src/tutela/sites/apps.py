from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "tutela.sites"
    label = "sites"
    verbose_name = "Site role and keys"
    default_auto_field = "django.db.models.BigAutoField"
