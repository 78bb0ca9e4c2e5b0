from django.apps import AppConfig


class PbxConfig(AppConfig):
    name = "trunkline.pbx"
    label = "pbx"
    default_auto_field = "django.db.models.BigAutoField"
