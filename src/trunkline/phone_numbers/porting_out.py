"""Porting out (the partner guide: "Don't fight this"), and the tenant's port-out PIN.

A tenant may set a port-out PIN (stored hashed, shown once when set or rotated). A
port-out names the gaining carrier and quotes the PIN (or, while the tenant has none, the
tenant's account number on the platform: its id). A RELEASED number cannot be ported out:
releasing first "will fail the port". While the port-out is pending the number cannot be
released. When it completes the number has left for the gaining carrier: it is
DISCONNECTED (kept as history, no longer billed or assignable), not returned to the
inventory — the platform no longer holds it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import (
    _users_let_go,
    entitlements_follow,
    number_snapshot,
    require_writer,
)
from trunkline.tenants.models import Tenant

Status = PhoneNumber.Status


def tenant_port_out_pin_set(
    *, actor: Actor, tenant: Tenant, pin: str | None = None, now: datetime | None = None
) -> str:
    """Set (or rotate) the tenant's port-out PIN; returns it, the only time it is shown."""
    partner = require_writer(actor)
    now = now or timezone.now()
    if tenant.partner_id != partner.id or not actor.sees_tenant(tenant.id):
        raise NotFound("no such tenant", field="tenant_id")
    if pin in (None, ""):
        pin = f"{secrets.randbelow(10**8):08d}"
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValidationFailed("pin is 4 to 12 digits", field="pin")
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        rotated = bool(tenant.port_out_pin_hash)
        tenant.port_out_pin_hash = make_password(pin)
        tenant.port_out_pin_set_at = now
        tenant.save(update_fields=["port_out_pin_hash", "port_out_pin_set_at"])
        audit_record(
            actor=actor,
            action="tenant.port_out_pin_rotated" if rotated else "tenant.port_out_pin_set",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            after={"port_out_pin_set_at": now.isoformat()},
        )
    return pin


def _locked(number: PhoneNumber) -> PhoneNumber:
    return (
        PhoneNumber.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .get(pk=number.pk)
    )


def _announce(actor, number, before, action):
    after = number_snapshot(number)
    after["port_out_pending"] = number.port_out_pending
    audit_record(
        actor=actor,
        action=action,
        object_type="phone_number",
        object_id=number.id,
        tenant_id=before["tenant_id"] or "",
        before=before,
        after=after,
    )
    event_emit(
        partner=number.partner,
        type="phone_number.updated",
        data={
            "phone_number": number_snapshot(number),
            "previous_attributes": {
                k: before[k] for k in ("status", "tenant_id") if before[k] != after[k]
            },
            "port_out": {
                "pending": number.port_out_pending,
                "gaining_carrier": number.port_out_carrier or None,
            },
        },
    )


def number_port_out_request(
    *,
    actor: Actor,
    number: PhoneNumber,
    gaining_carrier: str,
    pin: str = "",
    account_number: str = "",
    now: datetime | None = None,
) -> PhoneNumber:
    require_writer(actor)
    now = now or timezone.now()
    gaining_carrier = " ".join((gaining_carrier or "").split())
    if not gaining_carrier or len(gaining_carrier) > 100:
        raise ValidationFailed("gaining_carrier is 1 to 100 characters", field="gaining_carrier")
    with transaction.atomic():
        number = _locked(number)
        if number.status == Status.RELEASED:
            raise Conflict(
                "a released number cannot be ported out: it belongs to no customer account",
                type="number_released",
            )
        if number.status != Status.ACTIVE:
            raise InvalidTransition(
                f"only an active number can be ported out; this one is {number.status.lower()}"
            )
        if number.tenant is None:
            raise InvalidTransition(
                "an unassigned number belongs to no customer account: only a number "
                "assigned to a tenant can be ported out"
            )
        if number.port_out_pending:
            raise Conflict("a port-out is already pending", type="port_out_pending")
        tenant = number.tenant
        if tenant.port_out_pin_hash:
            if not pin or not check_password(pin, tenant.port_out_pin_hash):
                raise ValidationFailed("the port-out PIN does not match", field="pin")
        elif account_number != tenant.id:
            raise ValidationFailed(
                "the account number does not match (no PIN is set: quote the account number)",
                field="account_number",
            )
        before = number_snapshot(number)
        number.port_out_pending = True
        number.port_out_carrier = gaining_carrier
        number.port_out_requested_at = now
        number.updated_at = now
        number.save()
        _announce(actor, number, before, "phone_number.port_out_requested")
    return number


def number_port_out_cancel(
    *, actor: Actor, number: PhoneNumber, now: datetime | None = None
) -> PhoneNumber:
    require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        if not number.port_out_pending:
            raise InvalidTransition("no port-out is pending for this number")
        before = number_snapshot(number)
        number.port_out_pending, number.port_out_carrier = False, ""
        number.port_out_requested_at = None
        number.updated_at = now
        number.save()
        _announce(actor, number, before, "phone_number.port_out_cancelled")
    return number


def number_port_out_complete(
    *, actor: Actor, number: PhoneNumber, now: datetime | None = None
) -> PhoneNumber:
    """The gaining carrier has the number: it leaves the platform (DISCONNECTED)."""
    require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        if not number.port_out_pending:
            raise InvalidTransition("no port-out is pending for this number")
        before = number_snapshot(number)
        _users_let_go(number, None)
        number.status = Status.DISCONNECTED
        number.tenant = None
        number.port_out_pending = False
        number.disconnected_at = now
        number.updated_at = now
        number.save()
        entitlements_follow(actor, number, None, now)
        _announce(actor, number, before, "phone_number.ported_out")
    return number
