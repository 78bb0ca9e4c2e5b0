from django.apps import AppConfig


class PbxConfig(AppConfig):
    name = "trunkline.pbx"
    label = "pbx"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trunkline.billing.subscription_cycle import billable_counts_register
        from trunkline.licensing.services import feature_usage_register, quota_counter_register
        from trunkline.pbx import routing
        from trunkline.pbx.call_flows import (
            call_flow_referrers,
            call_flow_target,
            member_features_in_use,
        )
        from trunkline.pbx.call_settings import call_settings_features, call_settings_referrers
        from trunkline.pbx.devices import devices_of
        from trunkline.pbx.extensions import extension_target, partner_extension_count
        from trunkline.pbx.references import referrer_source_register, target_register
        from trunkline.pbx.trunks import trunk_target
        from trunkline.pbx.voicemail import voicemail_target

        # The partner's monthly per-extension charge and its plan's cap count these.
        billable_counts_register("extensions", partner_extension_count)
        # A seat's device and additional-number quotas count these.
        quota_counter_register("devices", devices_of)
        quota_counter_register("additional_numbers", routing.additional_numbers_of)
        # Calls can be sent to users, voicemail boxes and trunks.
        target_register("extension", extension_target)
        # …and to call flows, which refer to users, other call flows and schedules.
        target_register("call_flow", call_flow_target)
        referrer_source_register(call_flow_referrers)
        # Agents keep their call-center licence, call flows the features they use.
        feature_usage_register(member_features_in_use)
        # Users forward calls to these; a seat change asks which licensed settings are on.
        referrer_source_register(call_settings_referrers)
        feature_usage_register(call_settings_features)
        # …voicemail boxes and trunks.
        target_register("voicemail", voicemail_target)
        target_register("trunk", trunk_target)
        # DID routes and the tenants' unassigned-DID routes point at them; what points at
        # a user's own voicemail box holds the user.
        referrer_source_register(routing.number_referrers)
        referrer_source_register(routing.unassigned_referrers)
        referrer_source_register(routing.own_box_referrers)
