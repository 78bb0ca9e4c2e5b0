"""Licences: what a tenant on the licence pricing model may provision
(`../shared/seeds/000_*.txt` "Licenses", `001_*.txt` "Manage Licenses").

- `LicenseSku` is the platform's catalog: each licence kind, what it grants (features and
  quotas) and its price. Platform staff edit it; `licensing.catalog` is the default.
- `LicenseSubscription` is a quantity of one SKU a tenant holds, under a UUID (the seed
  terminates licences by it).
- `LicenseAllocation` is how many of a tenant's licences of one SKU a site has. The
  tenant's "in use" figure counts allocations, as the seed's note says; a site's "used"
  counts assignments.
- `LicenseAssignment` is one licence given to one user (extension), call flow, trunk or
  number at a site.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from trunkline.core.ids import id_factory


class LicenseSku(models.Model):
    class Kind(models.TextChoices):
        USER_BASE = "user_base", "User base licence"
        USER_ADDON = "user_addon", "User add-on"
        CALL_FLOW_BASE = "call_flow_base", "Call flow licence"
        CALL_FLOW_ADDON = "call_flow_addon", "Call flow add-on"
        TRUNK = "trunk", "Trunking licence"
        NUMBER = "number", "Number entitlement"

    class Frequency(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        YEARLY = "yearly", "Yearly"

    code = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.CharField(max_length=300, blank=True)
    # Feature names the licence switches on, e.g. ["call_forwarding_selective"].
    features = models.JSONField(default=list, blank=True)
    # Quotas it grants, e.g. {"devices": 3, "additional_numbers": 0}; add-ons add theirs to
    # the seat's. For call-flow licences, {"menu_levels": 1} (absent: unlimited).
    quotas = models.JSONField(default=dict, blank=True)
    # Number entitlements: which numbers they cover ({"type": "local", "country": "US"}).
    scope = models.JSONField(default=dict, blank=True)
    # Trunking: spare capacity used only when the regular trunk licences are all busy.
    is_burst = models.BooleanField(default=False)
    # Call-flow base licences: the call-flow type they are for ("auto_attendant").
    call_flow_type = models.CharField(max_length=32, blank=True)
    price_micros = models.BigIntegerField(default=0)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default="monthly")
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "sort_order", "code"]
        verbose_name = "licence SKU"

    def __str__(self) -> str:
        return self.name


class LicenseSubscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        TERMINATED = "TERMINATED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="license_subscriptions"
    )
    sku = models.ForeignKey(LicenseSku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    # Bought to cover a number assignment when none was free (the per-number policy).
    automatic = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    terminated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["tenant", "sku", "status"])]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}"


class LicenseAllocation(models.Model):
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="license_allocations"
    )
    site = models.ForeignKey("pbx.Site", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(LicenseSku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "sku"], name="allocation_once_per_site")
        ]
        indexes = [models.Index(fields=["tenant", "sku"])]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id} at {self.site_id}"


class LicenseAssignment(models.Model):
    class Target(models.TextChoices):
        EXTENSION = "extension", "User"
        CALL_FLOW = "call_flow", "Call flow"
        TRUNK = "trunk", "Trunk"
        NUMBER = "number", "Number"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("lca"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="license_assignments"
    )
    site = models.ForeignKey("pbx.Site", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(LicenseSku, on_delete=models.PROTECT, related_name="+")
    target_type = models.CharField(max_length=12, choices=Target.choices)
    target_id = models.CharField(max_length=40)
    # A base licence (a user's seat, an auto attendant's licence, a number's entitlement):
    # a target has at most one; add-ons come on top of it.
    is_base = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id", "sku"], name="licence_once_per_target"
            ),
            models.UniqueConstraint(
                fields=["target_type", "target_id"],
                condition=Q(is_base=True),
                name="one_base_licence_per_target",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "sku"]),
            models.Index(fields=["tenant", "sku"]),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} → {self.target_type} {self.target_id}"


class LicensePolicy(models.Model):
    """A partner's rules for number licences (`003_*.txt`): whether a number entitlement is
    bought automatically when a tenant has none free for a number it is given, and how many
    numbers a user may have on each seat (the seed's "Max numbers per user" by plan)."""

    partner = models.OneToOneField(
        "accounts.Partner",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="license_policy",
    )
    auto_purchase_numbers = models.BooleanField(default=False)
    # Seat SKU code -> most numbers a user on that seat may have, e.g. {"seat_basic": 5};
    # a seat not named here has no cap.
    numbers_per_user = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "licence policy"
        verbose_name_plural = "licence policies"

    def __str__(self) -> str:
        return f"licence policy of {self.partner_id}"
