from django.contrib import admin

from trunkline.licensing.models import LicensePolicy, LicenseSku, LicenseSubscription


@admin.register(LicenseSku)
class LicenseSkuAdmin(admin.ModelAdmin):
    """The licence catalog: platform staff set names, grants, prices and availability."""

    list_display = ("code", "name", "kind", "price_micros", "frequency", "active")
    list_filter = ("kind", "frequency", "active")
    search_fields = ("code", "name")


@admin.register(LicenseSubscription)
class LicenseSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "sku", "quantity", "status", "started_at", "terminated_at")
    list_filter = ("status", "sku")
    search_fields = ("id", "tenant__name")
    readonly_fields = ("id", "partner", "tenant", "sku", "quantity", "started_at")


@admin.register(LicensePolicy)
class LicensePolicyAdmin(admin.ModelAdmin):
    list_display = ("partner", "auto_purchase_numbers", "updated_at")
    raw_id_fields = ("partner",)
