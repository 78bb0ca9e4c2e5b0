from django.contrib import admin

from trunkline.telephony.models import PbxNode, TenantPlacement


class _ReadOnly(admin.ModelAdmin):
    """Shown here, changed through `/v1/platform/pbx-nodes`: the services there place
    waiting tenants, refuse taking a busy node offline and write the audit trail."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PbxNode)
class PbxNodeAdmin(_ReadOnly):
    list_display = ("name", "address", "capacity", "status", "updated_at")
    list_filter = ("status",)
    search_fields = ("name", "address")


@admin.register(TenantPlacement)
class TenantPlacementAdmin(_ReadOnly):
    list_display = ("tenant", "node", "placed_at")
    list_filter = ("node",)
    search_fields = ("tenant__name", "tenant__id")
