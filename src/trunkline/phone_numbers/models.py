"""Phone numbers: the carrier's supply, the numbers partners own, the requests in flight
at the carrier, and port-in requests.

A number a partner owns is a `PhoneNumber` (`did_…`). Numbers it can still buy are the
carrier's business; the simulated carrier keeps its inventory in `SupplyNumber` (also
where platform staff load number blocks from CSV). Work the carrier does on its own
schedule — provisioning an order, CNAM, E911, a port — is a `CarrierRequest`, polled
until it settles.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from trunkline.core.ids import id_factory


class NumberKind(models.TextChoices):
    LOCAL = "local", "Local"
    TOLL_FREE = "toll_free", "Toll-free"


TOLL_FREE_NPAS = ("800", "833", "844", "855", "866", "877", "888")


class SupplyNumber(models.Model):
    """A number the carrier has available to sell. `digits` is the 10-digit national
    number; `reversed_digits` is the same read backwards, so a pattern with a fixed end
    (`8XX-OUR-FOOD`, `888-XXX-1000`) is an index range scan too."""

    e164 = models.CharField(primary_key=True, max_length=16)
    digits = models.CharField(max_length=10)
    reversed_digits = models.CharField(max_length=10)
    kind = models.CharField(max_length=10, choices=NumberKind.choices)
    state = models.CharField(max_length=2, blank=True)  # '' for toll-free
    npa = models.CharField(max_length=3)
    nxx = models.CharField(max_length=3)
    rate_center = models.CharField(max_length=40, blank=True)
    city = models.CharField(max_length=64, blank=True)
    # Where it came from: "simulated" (the simulated carrier's generated inventory) or
    # a staff-loaded block ("block:<file name>").
    source = models.CharField(max_length=80, default="simulated")
    # Prices set on a loaded block; null means the partner's tier price applies.
    monthly_micros = models.BigIntegerField(null=True, blank=True)
    setup_micros = models.BigIntegerField(null=True, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["e164"]
        indexes = [
            models.Index(fields=["kind", "state", "npa", "nxx", "digits"], name="supply_local"),
            models.Index(fields=["kind", "state", "city", "digits"], name="supply_city"),
            models.Index(fields=["kind", "state", "rate_center", "digits"], name="supply_rc"),
            models.Index(fields=["kind", "digits"], name="supply_digits"),
            models.Index(fields=["kind", "reversed_digits"], name="supply_reversed"),
        ]

    def __str__(self) -> str:
        return self.e164


class PhoneNumber(models.Model):
    """A number a partner bought (or ported in), assigned to one of its tenants or not."""

    class Status(models.TextChoices):
        PENDING = "PENDING"  # ordered, not yet provisioned by the carrier
        ACTIVE = "ACTIVE"  # provisioned; billed monthly
        RELEASED = "RELEASED"  # taken back from a tenant; kept in the inventory, not billed
        QUARANTINED = "QUARANTINED"  # given up; reclaimable until quarantined_until
        DISCONNECTED = "DISCONNECTED"  # returned to the carrier (history only)

    class SyncStatus(models.TextChoices):
        NOT_SET = "NOT_SET", "Not Set"
        PENDING = "PENDING", "Pending"
        SYNCED = "SYNCED", "Synced"
        FAILED = "FAILED", "Failed"

    class E911Status(models.TextChoices):
        NOT_SET = "NOT_SET", "Not Set"
        PENDING = "PENDING", "Pending"
        REGISTERED = "REGISTERED", "Registered"
        FAILED = "FAILED", "Failed"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("did"), editable=False
    )
    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, related_name="phone_numbers"
    )
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="phone_numbers",
    )
    e164 = models.CharField(max_length=16)
    kind = models.CharField(max_length=10, choices=NumberKind.choices)
    state = models.CharField(max_length=2, blank=True)
    rate_center = models.CharField(max_length=40, blank=True)
    city = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    carrier = models.CharField(max_length=40, default="simulated")

    # Held for later: not assignable until unreserved (the seed's "reserved numbers").
    reserved = models.BooleanField(default=False)
    reserved_note = models.CharField(max_length=200, blank=True)

    # Where calls to the number go: a destination of `pbx.references` (a user, call
    # flow, voicemail box, trunk, outside number or hang-up), in the tenant's phone
    # system. Null: the tenant's unassigned-DID route. Cleared when the number leaves
    # the tenant.
    route = models.JSONField(null=True, blank=True)

    # CNAM: the number's own name wins over the tenant's default; '' inherits it.
    cnam = models.CharField(max_length=15, blank=True)
    cnam_status = models.CharField(
        max_length=10, choices=SyncStatus.choices, default=SyncStatus.NOT_SET
    )
    cnam_synced = models.CharField(max_length=15, blank=True)  # the name the carrier has
    cnam_error = models.CharField(max_length=200, blank=True)

    # E911 dispatchable location.
    e911_street = models.CharField(max_length=200, blank=True)
    e911_street2 = models.CharField(max_length=200, blank=True)  # suite, floor, unit
    e911_city = models.CharField(max_length=100, blank=True)
    e911_state = models.CharField(max_length=2, blank=True)
    e911_postal_code = models.CharField(max_length=10, blank=True)
    e911_country = models.CharField(max_length=2, blank=True)
    e911_status = models.CharField(
        max_length=12, choices=E911Status.choices, default=E911Status.NOT_SET
    )
    e911_error = models.CharField(max_length=200, blank=True)
    e911_updated_at = models.DateTimeField(null=True, blank=True)

    # The monthly charge covers whole calendar months up to and including this day.
    paid_through = models.DateField(null=True, blank=True)
    port_request = models.ForeignKey(
        "phone_numbers.PortRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Port-out protection: set while a port-out to another carrier is in progress.
    port_out_pending = models.BooleanField(default=False)
    port_out_carrier = models.CharField(max_length=100, blank=True)  # the gaining carrier
    port_out_requested_at = models.DateTimeField(null=True, blank=True)

    purchased_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    quarantined_until = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["e164"]
        constraints = [
            # A number belongs to one partner at a time; disconnected rows are history.
            models.UniqueConstraint(
                fields=["e164"],
                condition=~Q(status="DISCONNECTED"),
                name="phone_number_owned_once",
            )
        ]
        indexes = [
            models.Index(fields=["partner", "e164"]),
            models.Index(fields=["partner", "tenant", "status"]),
            models.Index(fields=["partner", "e911_status"]),
            models.Index(fields=["tenant", "status"]),
        ]

    def __str__(self) -> str:
        return self.e164

    def save(self, *args, **kwargs):
        """Saving a change of tenant records who held the number from when, in the same
        transaction: tenant invoices prorate numbers by days held."""
        from django.db import transaction

        from trunkline.billing.service_periods import service_period_move

        with transaction.atomic():
            super().save(*args, **kwargs)
            if self.tenant_id != getattr(self, "_held_by", None):
                service_period_move(
                    object_id=self.id,
                    kind="did_toll_free" if self.kind == NumberKind.TOLL_FREE else "did_local",
                    label=self.e164,
                    partner_id=self.partner_id,
                    tenant_id=self.tenant_id,
                    at=self.updated_at,
                )
        self._held_by = self.tenant_id

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._held_by = instance.__dict__.get("tenant_id")
        return instance

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
        self.e911_country = address.get("country") or ("US" if address else "")


class CarrierRequest(models.Model):
    """Work handed to the carrier that completes later: provisioning an order, a CNAM
    update, an E911 registration, a port. `carrier_ref` is the carrier's id for it; the
    sync job asks the carrier about every PENDING one and applies the answer."""

    class Kind(models.TextChoices):
        ORDER = "order"
        CNAM = "cnam"
        E911 = "e911"
        PORT = "port"
        RELEASE = "release"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        DONE = "DONE"
        FAILED = "FAILED"
        SUPERSEDED = "SUPERSEDED"  # a newer request for the same thing replaced it
        CANCELLED = "CANCELLED"  # withdrawn by us before it settled (a cancelled port)

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("car"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    carrier = models.CharField(max_length=40, default="simulated")
    carrier_ref = models.CharField(max_length=80)
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    port_request = models.ForeignKey(
        "phone_numbers.PortRequest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    payload = models.JSONField(default=dict)  # what was sent (the CNAM, the address…)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    detail = models.CharField(max_length=300, blank=True)  # the carrier's reason on failure
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "carrier_ref"], name="carrier_ref_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.carrier_ref}"


class SimulatedCarrierStep(models.Model):
    """A staff decision that overrides the simulated carrier's schedule for one of its
    requests (`trunkline carrier advance`): finish it now, fail it now with a reason, or
    (a port) give the Firm Order Commit now. The simulated carrier's `status` reads it
    before its schedule; a real carrier never sees it."""

    class Outcome(models.TextChoices):
        FOC = "foc"  # ports: FOC_RECEIVED now, completing on the FOC date as scheduled
        DONE = "done"
        FAILED = "failed"

    carrier_ref = models.CharField(primary_key=True, max_length=80)
    kind = models.CharField(max_length=10, choices=CarrierRequest.Kind.choices)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    detail = models.CharField(max_length=300, blank=True)  # the reason a forced failure gives
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(max_length=254, blank=True)

    def __str__(self) -> str:
        return f"{self.carrier_ref}: {self.outcome}"


class PortRequest(models.Model):
    """Bringing numbers from another carrier (the partner guide's Appendix B)."""

    class Status(models.TextChoices):
        PENDING = "PENDING"  # received, not yet sent to the losing carrier
        SUBMITTED = "SUBMITTED"
        FOC_RECEIVED = "FOC_RECEIVED"
        COMPLETED = "COMPLETED"
        REJECTED = "REJECTED"
        CANCELLED = "CANCELLED"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("prt"), editable=False
    )
    partner = models.ForeignKey("accounts.Partner", on_delete=models.PROTECT, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    numbers = models.JSONField(default=list)  # E.164 strings
    current_carrier = models.CharField(max_length=100)
    account_holder = models.CharField(max_length=200)
    business_name = models.CharField(max_length=200, blank=True)
    account_number = models.CharField(max_length=64)
    pin_encrypted = models.TextField(blank=True)  # AES-GCM; never shown again
    service_street = models.CharField(max_length=200)
    service_street2 = models.CharField(max_length=200, blank=True)
    service_city = models.CharField(max_length=100)
    service_state = models.CharField(max_length=2)
    service_postal_code = models.CharField(max_length=10)
    desired_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.PENDING)
    foc_date = models.DateField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The status timeline: [{"status", "at", "detail"}], oldest first.
    history = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    OPEN = (Status.PENDING, Status.SUBMITTED, Status.FOC_RECEIVED, Status.REJECTED)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "status", "created_at"]),
            models.Index(fields=["tenant", "status"], name="port_request_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.id


class PortDocument(models.Model):
    """An uploaded LOA or carrier bill, stored in the database (sealed with the platform
    key: bills carry account numbers)."""

    class Kind(models.TextChoices):
        LOA = "loa", "Letter of Authorization"
        BILL = "bill", "Recent carrier bill"

    id = models.CharField(
        primary_key=True, max_length=40, default=id_factory("pdc"), editable=False
    )
    port_request = models.ForeignKey(
        PortRequest, on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.filename
