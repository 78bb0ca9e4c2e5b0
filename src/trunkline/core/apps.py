from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "trunkline.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"
