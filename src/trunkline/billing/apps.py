from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "trunkline.billing"
    label = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trunkline.billing.attachments import attachment_renderers_register_billing

        attachment_renderers_register_billing()
