from django.apps import AppConfig


class PbxConfig(AppConfig):
    name = "trunkline.pbx"
    label = "pbx"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trunkline.billing.subscription_cycle import billable_counts_register
        from trunkline.licensing.services import quota_counter_register
        from trunkline.pbx.devices import devices_of
        from trunkline.pbx.extensions import extension_target, partner_extension_count
        from trunkline.pbx.references import target_register

        # The partner's monthly per-extension charge and its plan's cap count these.
        billable_counts_register("extensions", partner_extension_count)
        # A seat's device quota counts these.
        quota_counter_register("devices", devices_of)
        # Calls can be sent to users.
        target_register("extension", extension_target)
