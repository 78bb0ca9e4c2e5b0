"""Permanent release: a number given up for good is held in quarantine first.

Giving a number back to the carrier cannot be undone (once it is back in the carrier's
pool someone else may buy it), so it is not a partner's button: platform staff do it on
a support request (`number_disconnect`). The number is QUARANTINED for
`QUARANTINE_DAYS`: unassigned, not billed (the monthly run charges ACTIVE numbers only),
its CNAM and E911 history kept. Until the window closes staff or the partner's admin can
reclaim it (`number_reclaim`): it goes back to the partner's inventory as RELEASED and is
billed again once assigned. After the window the periodic job
`phone_numbers.quarantine_expire` gives it back to the carrier and marks it DISCONNECTED.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, NotFound
from trunkline.phone_numbers.carrier import CarrierError, carrier
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import (
    _locked,
    _users_let_go,
    entitlements_follow,
    number_snapshot,
    require_writer,
)

QUARANTINE_DAYS = 30
Status = PhoneNumber.Status


def disconnect_refusal(number: PhoneNumber) -> Conflict | None:
    if number.status not in (Status.ACTIVE, Status.RELEASED):
        return Conflict(
            f"a {number.status.lower()} number cannot be disconnected",
            type="invalid_state_transition",
        )
    if number.port_out_pending:
        return Conflict(
            "the number is being ported out: let the port finish instead",
            type="port_out_pending",
        )
    return None


def _announce(actor: Actor, number: PhoneNumber, action: str, before: dict) -> None:
    after = number_snapshot(number)
    audit_record(
        actor=actor,
        partner=number.partner,
        action=action,
        object_type="phone_number",
        object_id=number.id,
        tenant_id=before["tenant_id"] or "",
        before=before,
        after=after,
    )
    if before["tenant_id"] and not after["tenant_id"]:
        # Whoever follows assignments sees the tenant lose the number.
        event_emit(
            partner=number.partner,
            type="phone_number.released",
            data={"phone_number": after, "previous_tenant_id": before["tenant_id"]},
        )
    event_emit(
        partner=number.partner,
        type="phone_number.updated",
        data={
            "phone_number": after,
            "previous_attributes": {
                key: before[key] for key in ("status", "tenant_id") if before[key] != after[key]
            },
        },
    )


def number_disconnect(
    *, actor: Actor, number: PhoneNumber, now: datetime | None = None
) -> PhoneNumber:
    """Give the number up for good (platform staff only): QUARANTINED for
    `QUARANTINE_DAYS`, then returned to the carrier. Anyone else is told there is no
    such thing (404), as for every staff-only action."""
    if not actor.is_staff:
        raise NotFound("no such phone number", field="id")
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        refusal = disconnect_refusal(number)
        if refusal is not None:
            raise refusal
        before = number_snapshot(number)
        _users_let_go(number, None)
        number.status = Status.QUARANTINED
        number.tenant = None
        number.reserved, number.reserved_note = False, ""
        number.quarantined_until = now + timedelta(days=QUARANTINE_DAYS)
        if before["tenant_id"]:
            number.released_at = now
        number.updated_at = now
        number.save()
        entitlements_follow(actor, number, None, now)
        _announce(actor, number, "phone_number.quarantined", before)
    return number


def reclaim_refusal(number: PhoneNumber, now: datetime) -> Conflict | None:
    if number.status != Status.QUARANTINED:
        return Conflict(
            f"only a quarantined number can be reclaimed; this one is {number.status.lower()}",
            type="invalid_state_transition",
        )
    if number.quarantined_until is None or number.quarantined_until <= now:
        return Conflict(
            "the quarantine has ended: the number is going back to the carrier",
            type="quarantine_expired",
        )
    return None


def number_reclaim(
    *, actor: Actor, number: PhoneNumber, now: datetime | None = None
) -> PhoneNumber:
    """Take a quarantined number back into the partner's inventory (RELEASED), while the
    window is open. Platform staff, or a partner admin for its own numbers."""
    if not actor.is_staff:
        partner = require_writer(actor)
        if number.partner_id != partner.id:
            raise NotFound("no such phone number", field="id")
    now = now or timezone.now()
    with transaction.atomic():
        number = _locked(number)
        refusal = reclaim_refusal(number, now)
        if refusal is not None:
            raise refusal
        before = number_snapshot(number)
        number.status = Status.RELEASED
        number.quarantined_until = None
        number.released_at = now
        number.updated_at = now
        number.save()
        _announce(actor, number, "phone_number.reclaimed", before)
    return number


def numbers_quarantine_expire(*, now: datetime) -> int:
    """Return every number whose quarantine has ended to the carrier and mark it
    DISCONNECTED; how many. A second run finds nothing left to do.

    The carrier is asked inside each number's transaction, with the row locked: if it
    refuses, the number stays QUARANTINED (not reclaimable any more) and the next run
    tries again, rather than being marked gone while the carrier still bills us for it.
    """
    due = PhoneNumber.objects.filter(
        status=Status.QUARANTINED, quarantined_until__lte=now
    ).values_list("pk", flat=True)
    done = 0
    for pk in list(due):
        with transaction.atomic():
            number = (
                PhoneNumber.objects.select_for_update()
                .filter(pk=pk, status=Status.QUARANTINED, quarantined_until__lte=now)
                .select_related("partner")
                .first()
            )
            if number is None:  # reclaimed or handled by another worker meanwhile
                continue
            before = number_snapshot(number)
            number.status = Status.DISCONNECTED
            number.disconnected_at = now
            number.updated_at = now
            number.save()
            _announce(
                Actor.system(partner=number.partner), number, "phone_number.disconnected", before
            )
            try:
                carrier().release([number.e164])
            except CarrierError:
                transaction.set_rollback(True)
                continue
        done += 1
    return done
