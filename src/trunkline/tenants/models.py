"""A tenant: one business customer of a partner, isolated from every other."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone as dj_timezone

from trunkline.core.ids import id_factory

PURGE_AFTER = timedelta(days=90)


class Tenant(models.Model):
    class Status(models.TextChoices):
        TRIAL = "TRIAL"
        ACTIVE = "ACTIVE"
        SUSPENDED = "SUSPENDED"
        CANCELLED = "CANCELLED"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("tnt"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.CASCADE, related_name="tenants"
    )
    name = models.CharField(max_length=120)
    sip_prefix = models.CharField(max_length=12, unique=True)
    billing_email = models.EmailField(max_length=254)
    default_cnam = models.CharField(max_length=15, blank=True)
    timezone = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRIAL)
    suspension_reason = models.CharField(max_length=200, blank=True)
    # Who suspended it: the partner ("manual"), or the platform for unpaid invoices
    # ("non_payment") or a usage cap ("usage_cap"); only the platform lifts its own.
    suspension_cause = models.CharField(max_length=12, blank=True)
    # What an unsuspend returns the tenant to (TRIAL or ACTIVE).
    status_before_suspension = models.CharField(max_length=12, blank=True)
    # Usage limits (the partner guide's "Usage Limits"); null: no limit.
    monthly_spend_limit_micros = models.BigIntegerField(null=True, blank=True)
    max_extensions = models.PositiveIntegerField(null=True, blank=True)
    max_dids = models.PositiveIntegerField(null=True, blank=True)
    max_monthly_minutes = models.PositiveIntegerField(null=True, blank=True)
    alert_threshold_percent = models.PositiveSmallIntegerField(default=80)
    auto_suspend = models.BooleanField(default=True)
    # The PIN another carrier must quote to port this tenant's numbers away (hashed).
    port_out_pin_hash = models.CharField(max_length=200, blank=True)
    port_out_pin_set_at = models.DateTimeField(null=True, blank=True)

    # How the partner charges the tenant (billing.profiles). A change waits for the start
    # of the tenant's next billing cycle in `pending_billing_profile`.
    billing_profile = models.ForeignKey(
        "billing.BillingProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    billing_profile_since = models.DateTimeField(null=True, blank=True)
    billing_profile_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    pending_billing_profile = models.ForeignKey(
        "billing.BillingProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    pending_billing_profile_from = models.DateField(null=True, blank=True, db_index=True)
    # Everything before this day (the tenant's own date) has been invoiced; the billing-
    # cycle job next looks at the tenant at `next_cycle_at`.
    billed_through = models.DateField(null=True, blank=True)
    # Account credit from refunds, taken off the tenant's next invoices as they are issued.
    credit_micros = models.BigIntegerField(default=0)
    next_cycle_at = models.DateTimeField(null=True, blank=True, db_index=True)
    tax_jurisdiction = models.ForeignKey(
        "billing.TaxJurisdiction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    e911_street = models.CharField(max_length=200, blank=True)
    e911_street2 = models.CharField(max_length=200, blank=True)
    e911_city = models.CharField(max_length=100, blank=True)
    e911_state = models.CharField(max_length=2, blank=True)
    e911_postal_code = models.CharField(max_length=10, blank=True)
    e911_country = models.CharField(max_length=2, blank=True, default="")

    created_at = models.DateTimeField(default=dj_timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=dj_timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["partner", "name"]),
            models.Index(fields=["partner", "status"]),
            models.Index(fields=["partner", "created_at", "id"], name="tenant_partner_created"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def e911_address(self) -> dict | None:
        if not self.e911_street:
            return None
        return {
            "street": self.e911_street,
            "street2": self.e911_street2 or None,
            "city": self.e911_city,
            "state": self.e911_state,
            "postal_code": self.e911_postal_code,
            "country": self.e911_country or "US",
        }

    def set_e911_address(self, address: dict | None) -> None:
        address = address or {}
        self.e911_street = address.get("street") or ""
        self.e911_street2 = address.get("street2") or ""
        self.e911_city = address.get("city") or ""
        self.e911_state = address.get("state") or ""
        self.e911_postal_code = address.get("postal_code") or ""
        self.e911_country = address.get("country") or ("US" if self.e911_street else "")

    def snapshot(self) -> dict:
        """The tenant as events and audit entries show it."""
        return {
            "id": self.id,
            "name": self.name,
            "sip_prefix": self.sip_prefix,
            "billing_email": self.billing_email,
            "default_cnam": self.default_cnam or None,
            "timezone": self.timezone,
            "status": self.status,
            "e911_address": self.e911_address,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }
