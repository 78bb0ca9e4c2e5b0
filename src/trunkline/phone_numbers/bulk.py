"""Many numbers at once: assign to one tenant, release, or give one 911 address — all or
nothing, with a preview for the confirmation summary.

Each operation applies the single-number rules (`services.assign_refusal`,
`release_refusal`, `caller_id.e911_refusal`, the tenant's Max DIDs in
`services.tenant_accepts` and its number entitlements in `services.entitlements_accept`
when it is on licences) to every number first; one refusal and nothing changes, and
the error names every number refused. The preview runs the same checks without changing
anything and answers what the confirmation shows: how many numbers, each tenant's count
before and after against its Max DIDs, the refusals, and the money (assigning a RELEASED
number charges the current month unless it is paid for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.billing import ledger, payment_services
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.core.money import Money
from trunkline.phone_numbers import caller_id, selectors
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.pricing import number_price
from trunkline.phone_numbers.services import (
    assign_apply,
    assign_charge,
    assign_refusal,
    entitlements_accept,
    release_apply,
    release_refusal,
    require_writer,
    tenant_accepts,
    tenant_in_scope,
    tenant_numbers_held,
)
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_lock

MAX_BULK = 500
_LISTED = 10  # refusals spelled out in the message; the preview lists them all


class BulkRefused(Conflict):
    """Some of the numbers cannot take part; nothing was changed. The envelope keeps the
    contract's shape; its message names the numbers refused and why (the preview lists
    every one of them)."""

    def __init__(self, refusals: list[tuple[PhoneNumber, Conflict]], verb: str):
        types = {refusal.type for _, refusal in refusals}
        listed = "; ".join(
            f"{number.id} ({number.e164}): {refusal.message}"
            for number, refusal in refusals[:_LISTED]
        )
        more = f"; and {len(refusals) - _LISTED} more" if len(refusals) > _LISTED else ""
        super().__init__(
            f"{len(refusals)} number{'s' if len(refusals) != 1 else ''} cannot be {verb}, "
            f"so nothing was changed: {listed}{more}",
            field="ids",
            type=types.pop() if len(types) == 1 else "bulk_refused",
        )
        self.refusals = refusals


def _refused_out(refusals) -> list[dict]:
    return [
        {"id": number.id, "number": number.e164, "type": refusal.type, "message": refusal.message}
        for number, refusal in refusals
    ]


def clean_ids(numbers) -> list[str]:
    """Distinct ids (or PhoneNumber rows), at most MAX_BULK; 422 on `ids` otherwise."""
    if not isinstance(numbers, (list, tuple)) or not numbers:
        raise ValidationFailed("ids is a non-empty list of phone number ids", field="ids")
    if len(numbers) > MAX_BULK:
        raise ValidationFailed(f"at most {MAX_BULK} numbers at once", field="ids")
    ids: list[str] = []
    for index, number in enumerate(numbers):
        number_id = number.id if isinstance(number, PhoneNumber) else number
        if not isinstance(number_id, str) or not number_id or len(number_id) > 40:
            raise ValidationFailed("each id is a phone number id (did_…)", field=f"ids.{index}")
        if number_id in ids:
            raise ValidationFailed(f"{number_id} is listed twice", field=f"ids.{index}")
        ids.append(number_id)
    return ids


def _load(actor: Actor, ids: list[str], *, lock: bool) -> list[PhoneNumber]:
    """The caller's numbers with these ids, in number order; one unknown or foreign id
    and the whole request is a 404 naming it."""
    found = selectors.numbers_visible_to(actor).filter(id__in=ids)
    if lock:
        # Locked in id order, as every other writer of several numbers does.
        found = found.select_for_update().order_by("pk")
    rows = {number.id: number for number in found}
    missing = [number_id for number_id in ids if number_id not in rows]
    if missing:
        raise NotFound(f"no such phone number: {', '.join(missing[:_LISTED])}", field="ids")
    return sorted(rows.values(), key=lambda number: number.e164)


@dataclass
class _TenantCount:
    tenant: Tenant
    before: int
    change: int = 0

    def out(self) -> dict:
        after = self.before + self.change
        max_dids = self.tenant.max_dids
        return {
            "id": self.tenant.id,
            "name": self.tenant.name,
            "before": self.before,
            "after": after,
            "max_dids": max_dids,
            "headroom": None if max_dids is None else max_dids - after,
        }


@dataclass
class _Plan:
    action: str
    numbers: list[PhoneNumber]
    refusals: list[tuple[PhoneNumber, Conflict]] = field(default_factory=list)
    tenants: dict[str, _TenantCount] = field(default_factory=dict)
    limit: Conflict | None = None
    charges: list[tuple[PhoneNumber, Money]] = field(default_factory=list)
    monthly_stopping: Money = field(default_factory=lambda: Money(0))
    # Number entitlements the partner's licence policy buys for the tenant: {SKU: count}.
    licenses_bought: dict[str, int] = field(default_factory=dict)

    def count(self, tenant_id: str | None, change: int) -> None:
        if tenant_id is None:
            return
        if tenant_id not in self.tenants:
            tenant = Tenant.objects.get(pk=tenant_id)
            self.tenants[tenant_id] = _TenantCount(tenant, tenant_numbers_held(tenant))
        self.tenants[tenant_id].change += change

    def out(self, partner) -> dict:
        charged = [(number, amount) for number, amount in self.charges if amount.micros]
        total = sum((amount for _, amount in charged), Money(0))
        balance = ledger.wallet_balance(partner)
        return {
            "action": self.action,
            "count": len(self.numbers),
            "refused": _refused_out(self.refusals),
            "limit_error": (
                {"type": self.limit.type, "message": self.limit.message} if self.limit else None
            ),
            "tenants": [count.out() for count in self.tenants.values()],
            "charge": {
                "numbers": [number.id for number, _ in charged],
                "total": total.to_json(),
                "wallet_balance": balance.to_json(),
                "covered": balance >= total,
            },
            "monthly_stopping": self.monthly_stopping.to_json(),
            "licenses_bought": [
                {"sku": sku, "quantity": quantity}
                for sku, quantity in sorted(self.licenses_bought.items())
            ],
            "can_proceed": not self.refusals and self.limit is None and balance >= total,
        }


# --- assign ------------------------------------------------------------------------------


def _assign_plan(numbers, tenant: Tenant | None, now: datetime) -> _Plan:
    plan = _Plan("assign", numbers)
    incoming = 0
    arriving: list[PhoneNumber] = []
    for number in numbers:
        refusal = assign_refusal(number, tenant)
        if refusal is not None:
            plan.refusals.append((number, refusal))
            continue
        moving = number.tenant_id != (tenant.id if tenant else None)
        if moving:
            counted = number.status in (PhoneNumber.Status.PENDING, PhoneNumber.Status.ACTIVE)
            if counted:
                plan.count(number.tenant_id, -1)
            incoming += 1
            arriving.append(number)
        plan.charges.append((number, assign_charge(number, tenant, now)))
    if tenant is not None:
        plan.count(tenant.id, incoming)
        try:
            tenant_accepts(tenant, incoming)
            plan.licenses_bought = entitlements_accept(tenant, arriving)
        except Conflict as error:
            plan.limit = error
    return plan


def _assign_target(actor: Actor, tenant: Tenant | None) -> None:
    if tenant is not None:
        tenant_in_scope(actor, tenant)


def numbers_bulk_assign_preview(
    *, actor: Actor, numbers, tenant: Tenant | None, now: datetime | None = None
) -> dict:
    partner = require_writer(actor)
    now = now or timezone.now()
    ids = clean_ids(numbers)
    _assign_target(actor, tenant)
    return _assign_plan(_load(actor, ids, lock=False), tenant, now).out(partner)


def numbers_bulk_assign(
    *, actor: Actor, numbers, tenant: Tenant | None, now: datetime | None = None
) -> list[PhoneNumber]:
    """Give every number to `tenant` (None: take them back, still ACTIVE), or none."""
    partner = require_writer(actor)
    now = now or timezone.now()
    ids = clean_ids(numbers)
    _assign_target(actor, tenant)
    with transaction.atomic():
        if tenant is not None:
            tenant = tenant_lock(tenant)  # the tenant before its numbers (services.py)
        rows = _load(actor, ids, lock=True)
        plan = _assign_plan(rows, tenant, now)
        if plan.refusals:
            raise BulkRefused(plan.refusals, "assigned")
        if plan.limit is not None:
            raise plan.limit
        for number in rows:
            assign_apply(actor, number, tenant, now)  # 402 here rolls every one back
    payment_services.wallet_after_debit(partner)
    return rows


# --- release -----------------------------------------------------------------------------


def _release_plan(numbers, now: datetime) -> _Plan:
    plan = _Plan("release", numbers)
    for number in numbers:
        refusal = release_refusal(number)
        if refusal is not None:
            plan.refusals.append((number, refusal))
            continue
        plan.count(number.tenant_id, -1)
        if number.status == PhoneNumber.Status.ACTIVE:
            plan.monthly_stopping += number_price(
                partner=number.partner, kind=number.kind, at=now
            ).monthly
    return plan


def numbers_bulk_release_preview(*, actor: Actor, numbers, now: datetime | None = None) -> dict:
    partner = require_writer(actor)
    now = now or timezone.now()
    return _release_plan(_load(actor, clean_ids(numbers), lock=False), now).out(partner)


def numbers_bulk_release(
    *, actor: Actor, numbers, now: datetime | None = None
) -> list[PhoneNumber]:
    """Release every number (RELEASED, kept in the inventory), or none."""
    require_writer(actor)
    now = now or timezone.now()
    ids = clean_ids(numbers)
    with transaction.atomic():
        rows = _load(actor, ids, lock=True)
        plan = _release_plan(rows, now)
        if plan.refusals:
            raise BulkRefused(plan.refusals, "released")
        for number in rows:
            release_apply(actor, number, now)
    return rows


# --- E911 --------------------------------------------------------------------------------


def _e911_plan(numbers) -> _Plan:
    plan = _Plan("e911", numbers)
    for number in numbers:
        refusal = caller_id.e911_refusal(number)
        if refusal is not None:
            plan.refusals.append((number, refusal))
        else:
            plan.count(number.tenant_id, 0)
    return plan


def numbers_bulk_e911_preview(*, actor: Actor, numbers, address) -> dict:
    partner = require_writer(actor)
    ids = clean_ids(numbers)
    caller_id.clean_dispatchable_address(address)
    preview = _e911_plan(_load(actor, ids, lock=False)).out(partner)
    preview["e911_address"] = caller_id.clean_dispatchable_address(address)
    return preview


def numbers_bulk_e911(
    *, actor: Actor, numbers, address, now: datetime | None = None
) -> list[PhoneNumber]:
    """Give every number the same dispatchable address (each registered with the
    carrier: PENDING, then REGISTERED or FAILED), or none."""
    require_writer(actor)
    now = now or timezone.now()
    ids = clean_ids(numbers)
    caller_id.clean_dispatchable_address(address)
    with transaction.atomic():
        rows = _load(actor, ids, lock=True)
        plan = _e911_plan(rows)
        if plan.refusals:
            raise BulkRefused(plan.refusals, "given a 911 address")
        return caller_id.numbers_e911_set(actor=actor, numbers=rows, address=address, now=now)
