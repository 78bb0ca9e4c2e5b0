from django.contrib import admin

from trunkline.phone_numbers.models import CarrierRequest, PhoneNumber, PortRequest


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("e164", "partner", "tenant", "kind", "status", "cnam_status", "e911_status")
    list_filter = ("status", "kind", "e911_status", "cnam_status")
    search_fields = ("e164", "id")
    raw_id_fields = ("partner", "tenant", "port_request")


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
