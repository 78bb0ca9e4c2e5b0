from django.contrib import admin, messages

from trunkline.core.errors import TrunklineError
from trunkline.phone_numbers import quarantine
from trunkline.phone_numbers.models import (
    CarrierRequest,
    PhoneNumber,
    PortRequest,
    SimulatedCarrierStep,
)
from trunkline.portal.access import actor_from_request


def _each(modeladmin, request, queryset, service, done: str) -> None:
    """Run a staff service on each selected number; each stands on its own."""
    actor = actor_from_request(request)
    changed = 0
    for number in queryset:
        try:
            service(actor=actor, number=number)
        except TrunklineError as error:
            modeladmin.message_user(request, f"{number.e164}: {error.message}", messages.ERROR)
        else:
            changed += 1
    if changed:
        modeladmin.message_user(request, f"{changed} number(s) {done}.", messages.SUCCESS)


@admin.action(description="Disconnect permanently (30-day quarantine, then back to the carrier)")
def disconnect(modeladmin, request, queryset):
    _each(modeladmin, request, queryset, quarantine.number_disconnect, "quarantined")


@admin.action(description="Reclaim from quarantine (back to the partner's inventory)")
def reclaim(modeladmin, request, queryset):
    _each(modeladmin, request, queryset, quarantine.number_reclaim, "reclaimed")


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = (
        "e164",
        "partner",
        "tenant",
        "kind",
        "status",
        "quarantined_until",
        "cnam_status",
        "e911_status",
    )
    list_filter = ("status", "kind", "e911_status", "cnam_status")
    search_fields = ("e164", "id")
    raw_id_fields = ("partner", "tenant", "port_request")
    actions = (disconnect, reclaim)


@admin.register(CarrierRequest)
class CarrierRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "carrier_ref", "status", "created_at", "settled_at")
    list_filter = ("kind", "status")
    raw_id_fields = ("partner", "phone_number", "port_request")


@admin.register(PortRequest)
class PortRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "partner", "tenant", "status", "foc_date", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("partner", "tenant")
    exclude = ("pin_encrypted",)


@admin.register(SimulatedCarrierStep)
class SimulatedCarrierStepAdmin(admin.ModelAdmin):
    """Read-only: decisions are made with `trunkline carrier advance`, which applies them."""

    list_display = ("carrier_ref", "kind", "outcome", "detail", "decided_at", "decided_by")
    list_filter = ("kind", "outcome")
    search_fields = ("carrier_ref",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
