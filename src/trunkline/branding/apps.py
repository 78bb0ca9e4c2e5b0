from django.apps import AppConfig


class BrandingConfig(AppConfig):
    name = "trunkline.branding"
    label = "branding"
    default_auto_field = "django.db.models.BigAutoField"
