"""One-time charges for a tenant's next invoice: a setup fee, a desk phone shipped, a
porting fee. A charge waits until the billing-cycle job writes the tenant's invoice for
the cycle it was added in, which bills it as a one-time line and records the invoice on
it; until then the partner can remove it. (An off-cycle invoice bills one-time lines at
once instead: `tenant_invoices.invoice_create_off_cycle`.)"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.billing.models import TenantCharge
from trunkline.billing.tenant_invoices import MAX_LINES, one_time_line
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, InvalidTransition, NotFound
from trunkline.core.money import Money
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock


def charge_json(charge: TenantCharge) -> dict:
    return {
        "id": charge.id,
        "tenant_id": charge.tenant_id,
        "description": charge.description,
        "quantity": charge.quantity,
        "unit_price": Money(charge.unit_price_micros).to_json(),
        "amount": Money(charge.amount_micros).to_json(),
        "status": "billed" if charge.invoice_id else "pending",
        "invoice_id": charge.invoice_id,
        "created_at": charge.created_at,
    }


def tenant_charges(tenant: Tenant, *, status: str | None = None):
    charges = TenantCharge.objects.filter(tenant=tenant)
    if status == "pending":
        charges = charges.filter(invoice__isnull=True)
    elif status == "billed":
        charges = charges.filter(invoice__isnull=False)
    return charges.order_by("created_at", "id")


def _locked_tenant(actor: Actor, tenant: Tenant) -> Tenant:
    require_tenant_writer(actor, tenant)
    return tenant_lock(tenant)


def _audit(actor: Actor, charge: TenantCharge, action: str, **state) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="tenant_charge",
        object_id=charge.id,
        tenant_id=charge.tenant_id,
        **state,
    )


def tenant_charge_add(
    *, actor: Actor, tenant: Tenant, charge: dict, now: datetime | None = None
) -> TenantCharge:
    """Add a one-time charge ({description, quantity?, unit_price}) to the tenant's next
    cycle invoice. Refused for a cancelled tenant (it has no next cycle) and past
    MAX_LINES pending charges."""
    line = one_time_line(charge, "charge")
    now = now or timezone.now()
    with transaction.atomic():
        # Under the tenant's row lock, as the billing-cycle job reads pending charges: a
        # charge lands either before a cycle's invoice (and is on it) or after.
        tenant = _locked_tenant(actor, tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise InvalidTransition("a cancelled tenant has no next invoice to add a charge to")
        if tenant.billing_profile_id is None:
            raise Conflict("the tenant has no billing profile, so no invoice to add a charge to")
        pending = TenantCharge.objects.filter(tenant=tenant, invoice__isnull=True).count()
        if pending >= MAX_LINES:
            raise Conflict(f"a tenant has at most {MAX_LINES} pending one-time charges")
        created = TenantCharge.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            description=line.description,
            quantity=int(line.exact),
            unit_price_micros=line.unit_price_micros,
            created_at=now,
        )
        _audit(actor, created, "tenant_charge.added", after=_plain(created))
    return created


def tenant_charge_remove(*, actor: Actor, tenant: Tenant, charge_id) -> None:
    """Remove a pending charge; one already on an invoice stays (refund it there)."""
    with transaction.atomic():
        tenant = _locked_tenant(actor, tenant)
        charge = TenantCharge.objects.filter(
            tenant=tenant, pk=str(charge_id)[:64] if isinstance(charge_id, str) else ""
        ).first()
        if charge is None:
            raise NotFound("no such charge", field="charge_id")
        if charge.invoice_id is not None:
            raise InvalidTransition(
                "the charge is already billed on an invoice; refund it from the invoice"
            )
        before = _plain(charge)
        charge.delete()
        charge.id = before["id"]
        _audit(actor, charge, "tenant_charge.removed", before=before)


def _plain(charge: TenantCharge) -> dict:
    found = charge_json(charge)
    found["created_at"] = charge.created_at.isoformat()
    return found
