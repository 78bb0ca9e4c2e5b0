"""DID routing: where calls to each of a tenant's numbers go.

Every number the tenant holds (ACTIVE or PENDING) points at one destination of
`pbx.references` — a user, a call flow, a voicemail box, a trunk, an outside number, or
hang-up — or at nothing, and then follows the tenant's unassigned-DID route (`004_*.txt`:
"Until they route it, calls follow their Unassigned DID Behavior setting"). That route is
itself a destination, or nothing: the platform's "this number isn't configured" message.
A user's main number routed nowhere reaches the user.

A number routed to a user that is not the user's main number is one of the user's
additional numbers; on a licence-governed tenant the user's licences cap how many
(`additional_numbers`: a Basic seat none, a Premium seat 10, each number add-on one more).

A number that leaves its tenant forgets its route (`route_let_go`, from the phone numbers'
hook), so no route ever crosses tenants.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, NotFound
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import quota_check, user_number_cap
from trunkline.pbx.models import Extension, UnassignedDidRoute, VoicemailBox
from trunkline.pbx.references import Referrer, destination_clean, destination_label, referrers
from trunkline.pbx.services import phone_system_lock
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.tenants.models import Tenant

ROUTABLE = (PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING)
NOT_CONFIGURED = "the platform's \"this number isn't configured\" message"


def tenant_number(tenant: Tenant, number_id, *, for_update: bool = False) -> PhoneNumber:
    """One of the tenant's own ACTIVE or PENDING numbers; anything else is 404."""
    found = PhoneNumber.objects.filter(tenant=tenant, status__in=ROUTABLE)
    if for_update:
        found = found.select_for_update()
    number = found.filter(pk=number_id).first() if isinstance(number_id, str) else None
    if number is None:
        raise NotFound("no such phone number", field="number_id")
    return number


def _routed_to(tenant_id: str, target_type: str, target_id: str):
    return PhoneNumber.objects.filter(
        tenant_id=tenant_id, route__type=target_type, route__id=target_id
    )


def additional_numbers(extension: Extension):
    """The user's additional numbers: those routed to the user but its main number."""
    found = _routed_to(extension.tenant_id, "extension", extension.id)
    if extension.main_number_id:
        found = found.exclude(pk=extension.main_number_id)
    return found


def additional_numbers_of(target_type: str, target_id: str) -> int:
    """The `additional_numbers` quota's counter."""
    if target_type != LicenseAssignment.Target.EXTENSION:
        return 0
    extension = Extension.objects.filter(pk=target_id).first()
    return additional_numbers(extension).count() if extension else 0


def numbers_cap_check(tenant: Tenant, extension: Extension, total: int, *, field: str) -> None:
    """Refuse (409 `limit_exceeded`) a user `total` numbers (main and additional) past the
    partner's licence policy cap for the user's seat (`003_*.txt`, "Max numbers per
    user")."""
    cap = user_number_cap(tenant, extension.id)
    if cap is not None and total > cap:
        raise Conflict(
            f"extension {extension.number} would have {total} numbers; the licence policy "
            f"allows {cap} per user on its seat",
            field=field,
            type="limit_exceeded",
        )


def additional_numbers_check(tenant: Tenant, extension: Extension, *, field: str) -> None:
    """Refuse (409 `license_required`) one more additional number for the user past what
    its licences allow, or past the policy's numbers per user."""
    extra = additional_numbers(extension).count() + 1
    numbers_cap_check(
        tenant, extension, extra + (1 if extension.main_number_id else 0), field=field
    )
    quota_check(
        LicenseAssignment.Target.EXTENSION,
        extension.id,
        tenant=tenant,
        quota="additional_numbers",
        wanted=extra,
        field=field,
    )


def main_number_change_check(
    tenant: Tenant, extension: Extension, *, previous_main_id: str | None
) -> None:
    """A user's main number changed (unsaved yet): a number routed to the user that was
    its main number becomes an additional one, which its licences must allow."""
    routed = set(
        _routed_to(extension.tenant_id, "extension", extension.id).values_list("id", flat=True)
    )
    before = len(routed - {previous_main_id})
    after = len(routed - {extension.main_number_id})
    if extension.main_number_id and not previous_main_id:
        numbers_cap_check(tenant, extension, after + 1, field="main_number")
    if after > before:
        quota_check(
            LicenseAssignment.Target.EXTENSION,
            extension.id,
            tenant=tenant,
            quota="additional_numbers",
            wanted=after,
            field="main_number",
        )


def unassigned_destination(tenant: Tenant) -> dict | None:
    found = UnassignedDidRoute.objects.filter(tenant=tenant).first()
    return found.destination if found else None


def effective_destination(number: PhoneNumber) -> dict | None:
    """Where a call to the number goes now (None: the not-configured message)."""
    if number.route:
        return number.route
    holder = Extension.objects.filter(main_number=number).values_list("id", flat=True).first()
    if holder:
        return {"type": "extension", "id": holder}
    return unassigned_destination(number.tenant)


def _label(tenant_id: str, destination: dict | None) -> str:
    return destination_label(tenant_id, destination) if destination else NOT_CONFIGURED


def route_json(number: PhoneNumber) -> dict:
    effective = effective_destination(number)
    return {
        "number_id": number.id,
        "number": number.e164,
        "destination": number.route,
        "effective_destination": effective,
        "effective_label": _label(number.tenant_id, effective),
    }


def unassigned_route_json(tenant: Tenant) -> dict:
    destination = unassigned_destination(tenant)
    return {
        "tenant_id": tenant.id,
        "destination": destination,
        "label": _label(tenant.id, destination),
    }


def number_route_set(
    *, actor: Actor, tenant: Tenant, number: PhoneNumber, destination
) -> PhoneNumber:
    """Route one of the tenant's numbers to `destination` (None: to the tenant's
    unassigned-DID route). Routing a number to a user other than as the user's main number
    takes one of the user's additional numbers."""
    from trunkline.phone_numbers.services import number_snapshot

    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        number = tenant_number(tenant, number.id, for_update=True)
        cleaned = (
            destination_clean(tenant.id, destination, field="destination")
            if destination is not None
            else None
        )
        if cleaned == number.route:
            return number
        if cleaned and cleaned["type"] == "extension":
            user = Extension.objects.select_for_update().get(pk=cleaned["id"])
            if user.main_number_id != number.id:
                additional_numbers_check(tenant, user, field="destination")
        before = number_snapshot(number)
        number.route = cleaned
        number.updated_at = timezone.now()
        number.save(update_fields=["route", "updated_at"])
        after = number_snapshot(number)
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="phone_number.routed",
            object_type="phone_number",
            object_id=number.id,
            tenant_id=tenant.id,
            before=before,
            after=after,
        )
        event_emit(
            partner=tenant.partner,
            type="phone_number.updated",
            data={"phone_number": after, "previous_attributes": {"route": before["route"]}},
        )
    return number


def unassigned_route_set(*, actor: Actor, tenant: Tenant, destination) -> dict | None:
    """Where the tenant's numbers routed nowhere send calls (None: the platform's
    not-configured message)."""
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        cleaned = (
            destination_clean(tenant.id, destination, field="destination")
            if destination is not None
            else None
        )
        before = unassigned_destination(tenant)
        if cleaned == before:
            return cleaned
        UnassignedDidRoute.objects.update_or_create(
            tenant=tenant, defaults={"destination": cleaned, "updated_at": timezone.now()}
        )
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="tenant.unassigned_did_route_set",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            before={"unassigned_did_destination": before},
            after={"unassigned_did_destination": cleaned},
        )
    return cleaned


def route_let_go(number: PhoneNumber, tenant: Tenant | None) -> None:
    """The number is about to be given to `tenant` (None: to no tenant): unless that is
    the tenant it is with, it forgets its route. Call before the change is saved."""
    if number.tenant_id != (tenant.id if tenant is not None else None):
        number.route = None


# --- what refers to targets ------------------------------------------------------------------


def number_referrers(tenant_id: str, target_type: str, target_id: str):
    for number in _routed_to(tenant_id, target_type, target_id).only("id", "e164"):
        yield Referrer(type="phone_number", id=number.id, name=number.e164, via="DID route")


def unassigned_referrers(tenant_id: str, target_type: str, target_id: str):
    found = UnassignedDidRoute.objects.filter(
        tenant_id=tenant_id, destination__type=target_type, destination__id=target_id
    ).select_related("tenant")
    for row in found:
        yield Referrer(
            type="tenant", id=row.tenant_id, name=row.tenant.name, via="unassigned-DID route"
        )


def own_box_referrers(tenant_id: str, target_type: str, target_id: str):
    """A user's own voicemail box goes with the user: what routes to the box holds the
    user too."""
    if target_type != "extension":
        return
    box = VoicemailBox.objects.filter(tenant_id=tenant_id, owner_id=target_id).first()
    if box is None:
        return
    for found in referrers(tenant_id, "voicemail", box.id):
        yield Referrer(
            type=found.type,
            id=found.id,
            name=found.name,
            via=f"{found.via}, to the user's voicemail box",
        )
