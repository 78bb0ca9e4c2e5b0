"""Platform staff's admin for prices and subscription invoices.

Price rows are effective-dated: a row already in force has priced usage, so it is never
edited or deleted here; a change is a new row from now or later (the partner field makes
it that partner's own price list, which is how Enterprise prices are set).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone

from trunkline.billing.models import PlanPrice, PlatformInvoice
from trunkline.billing.subscriptions import PRICE_FIELDS, plan_price_schedule
from trunkline.core.actors import Actor
from trunkline.core.errors import TrunklineError


class PlanPriceForm(forms.ModelForm):
    class Meta:
        model = PlanPrice
        fields = ["plan", "partner", "effective_from", *PRICE_FIELDS, "note"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("effective_from") and cleaned["effective_from"] < timezone.now():
            self.add_error("effective_from", "a price change takes effect now or later")
        if cleaned.get("plan") == "enterprise" and not cleaned.get("partner"):
            self.add_error("partner", "Enterprise prices belong to one partner")
        return cleaned


@admin.register(PlanPrice)
class PlanPriceAdmin(admin.ModelAdmin):
    form = PlanPriceForm
    list_display = ["plan", "partner", "effective_from", "monthly_fee_micros", "max_extensions"]
    list_filter = ["plan"]
    search_fields = ["partner__company_name", "partner__id"]
    raw_id_fields = ["partner"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Only a change that has not taken effect yet may be withdrawn.
        if obj is not None and obj.effective_from <= timezone.now():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        actor = Actor(kind="user", user=request.user, can_write=True)
        try:
            saved = plan_price_schedule(
                actor=actor,
                plan=obj.plan,
                partner=obj.partner,
                effective_from=obj.effective_from,
                prices={name: getattr(obj, name) for name in PRICE_FIELDS},
                note=obj.note,
            )
        except TrunklineError as error:
            self.message_user(request, error.message, level="error")
            return
        obj.pk = saved.pk


@admin.register(PlatformInvoice)
class PlatformInvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "partner", "kind", "plan", "status", "total_micros", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["partner__company_name", "partner__id", "charge_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
