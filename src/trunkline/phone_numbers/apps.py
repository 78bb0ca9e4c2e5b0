from django.apps import AppConfig


class PhoneNumbersConfig(AppConfig):
    name = "trunkline.phone_numbers"
    label = "phone_numbers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trunkline.billing.subscription_cycle import billable_counts_register
        from trunkline.phone_numbers import caller_id, porting, services  # noqa: F401 - handlers
        from trunkline.phone_numbers.models import NumberKind

        billable_counts_register("dids_local", services._billable(NumberKind.LOCAL))
        billable_counts_register("dids_toll_free", services._billable(NumberKind.TOLL_FREE))
