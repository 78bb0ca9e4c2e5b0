from django.urls import path

from trunkline.phone_numbers.urls import urlpatterns as numbers_urlpatterns
from trunkline.portal.views import (
    api_keys,
    audit_log,
    billing,
    billing_config,
    billing_confirm,
    billing_payments,
    billing_subscription,
    dashboard,
    platform,
    tenant_defaults,
    tenants,
    webhooks,
)

app_name = "portal"

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("tenants", tenants.tenant_list, name="tenants"),
    path("tenants/new", tenants.tenant_new, name="tenant-new"),
    path("tenants/sip-prefix", tenants.sip_prefix_suggestion, name="sip-prefix-suggestion"),
    path("tenants/defaults", tenant_defaults.tenant_defaults, name="tenant-defaults"),
    path("tenants/<str:tenant_id>", tenants.tenant_detail, name="tenant"),
    path("tenants/<str:tenant_id>/edit", tenants.tenant_edit, name="tenant-edit"),
    path("tenants/<str:tenant_id>/delete", tenants.tenant_delete, name="tenant-delete"),
    path("tenants/<str:tenant_id>/suspend", tenants.tenant_suspend, name="tenant-suspend"),
    path("tenants/<str:tenant_id>/unsuspend", tenants.tenant_unsuspend, name="tenant-unsuspend"),
    path("tenants/<str:tenant_id>/reactivate", tenants.tenant_reactivate, name="tenant-reactivate"),
    path("settings/api-keys", api_keys.api_key_list, name="api-keys"),
    path("settings/api-keys/new", api_keys.api_key_new, name="api-key-new"),
    path("settings/api-keys/<str:key_id>/edit", api_keys.api_key_edit, name="api-key-edit"),
    path("settings/api-keys/<str:key_id>/revoke", api_keys.api_key_revoke, name="api-key-revoke"),
    path("settings/webhooks", webhooks.endpoint_list, name="webhooks"),
    path("settings/webhooks/new", webhooks.endpoint_new, name="webhook-new"),
    path("settings/webhooks/<str:endpoint_id>/edit", webhooks.endpoint_edit, name="webhook-edit"),
    path(
        "settings/webhooks/<str:endpoint_id>/toggle",
        webhooks.endpoint_toggle,
        name="webhook-toggle",
    ),
    path(
        "settings/webhooks/<str:endpoint_id>/rotate-secret",
        webhooks.endpoint_rotate,
        name="webhook-rotate",
    ),
    path(
        "settings/webhooks/<str:endpoint_id>/delete",
        webhooks.endpoint_delete,
        name="webhook-delete",
    ),
    path(
        "settings/webhooks/<str:endpoint_id>/deliveries",
        webhooks.delivery_list,
        name="webhook-deliveries",
    ),
    path(
        "settings/webhooks/deliveries/<str:delivery_id>",
        webhooks.delivery_detail,
        name="webhook-delivery",
    ),
    path(
        "settings/webhooks/deliveries/<str:delivery_id>/redeliver",
        webhooks.delivery_redeliver,
        name="webhook-redeliver",
    ),
    path("settings/billing", billing.billing_home, name="billing"),
    path(
        "settings/billing/subscription",
        billing_subscription.subscription,
        name="billing-subscription",
    ),
    path("settings/billing/subscription/activate", billing_subscription.activate),
    path("settings/billing/subscription/change-plan", billing_subscription.change_plan),
    path(
        "settings/billing/subscription/invoices/<str:invoice_id>.pdf",
        billing_subscription.invoice_pdf,
        name="billing-invoice-pdf",
    ),
    path(
        "settings/billing/payment-methods",
        billing_payments.payment_methods,
        name="billing-payment-methods",
    ),
    path("settings/billing/payment-methods/new", billing_payments.payment_method_new),
    path(
        "settings/billing/payment-methods/<str:method_id>/default",
        billing_payments.payment_method_default,
    ),
    path(
        "settings/billing/payment-methods/<str:method_id>/delete",
        billing_payments.payment_method_delete,
    ),
    path("settings/billing/auto-recharge", billing_payments.auto_recharge),
    path("settings/billing/top-up", billing_payments.top_up, name="billing-top-up"),
    path("settings/billing/confirm/<str:confirmation_id>", billing_confirm.confirmation_page),
    path(
        "settings/billing/confirm/<str:confirmation_id>/return",
        billing_confirm.confirmation_return,
    ),
    path(
        "settings/billing/confirm/<str:confirmation_id>/simulate",
        billing_confirm.confirmation_simulated_answer,
    ),
    path("settings/billing/profiles", billing_config.profile_list, name="billing-profiles"),
    path("settings/billing/profiles/new", billing_config.profile_new),
    path("settings/billing/profiles/<str:profile_id>/edit", billing_config.profile_edit),
    path("settings/billing/profiles/<str:profile_id>/default", billing_config.profile_make_default),
    path("settings/billing/profiles/<str:profile_id>/delete", billing_config.profile_delete),
    path("settings/billing/suspension", billing_config.suspension_setting),
    path("settings/billing/tax", billing_config.tax_list, name="billing-tax"),
    path("settings/billing/tax/new", billing_config.tax_new),
    path("settings/billing/tax/<str:jurisdiction_id>/edit", billing_config.tax_edit),
    path("settings/billing/tax/<str:jurisdiction_id>/toggle", billing_config.tax_toggle),
    path("settings/billing/tax/<str:jurisdiction_id>/delete", billing_config.tax_delete),
    path("tenants/<str:tenant_id>/billing", billing_config.tenant_billing_change),
    path("settings/billing/history", billing.history, name="billing-history"),
    path("settings/billing/history.csv", billing.history_csv, name="billing-history-csv"),
    path("platform/tenants", platform.tenants_dashboard, name="platform-tenants"),
    path("platform/providers", platform.providers_dashboard, name="platform-providers"),
    path("platform/number-blocks", platform.number_blocks, name="platform-number-blocks"),
    path("settings/audit-log", audit_log.audit_entries, name="audit-log"),
    path("settings/audit-log/api-requests", audit_log.api_requests, name="api-requests"),
]

urlpatterns += numbers_urlpatterns
