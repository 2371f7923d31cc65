from django.apps import AppConfig


class PromotionConfig(AppConfig):
    name = "tutela.promotion"
    label = "promotion"
    verbose_name = "Configuration promotion"
    default_auto_field = "django.db.models.BigAutoField"
