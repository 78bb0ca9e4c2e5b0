from django.apps import AppConfig


class PhoneNumbersConfig(AppConfig):
    name = "trunkline.phone_numbers"
    label = "phone_numbers"
    default_auto_field = "django.db.models.BigAutoField"
