from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "trunkline.licensing"
    label = "licensing"
    default_auto_field = "django.db.models.BigAutoField"
