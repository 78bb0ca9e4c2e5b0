"""CNAM and E911 on a number: what may be set, and handing it to the carrier.

CNAM: a number's own name wins over its tenant's default; each change of the name the
number actually shows is sent to the carrier (Pending) and becomes Synced or Failed when
the carrier answers. E911: a dispatchable US street address, validated before it goes to
the carrier (Pending) and Registered or Failed from its answer. Only a number that is
ACTIVE, assigned and Registered counts as 911-capable for the call engine.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, ValidationFailed
from trunkline.phone_numbers.carrier import carrier
from trunkline.phone_numbers.carrier_requests import on_settled, request_track
from trunkline.phone_numbers.models import CarrierRequest, PhoneNumber
from trunkline.tenants.validation import clean_e911_address

CNAM = re.compile(r"[A-Za-z0-9 .,&\-]{1,15}")
_BUILDING_NUMBER = re.compile(r"\d+[A-Za-z]?(-\d+[A-Za-z]?)?\s+\S")
_PO_BOX = re.compile(
    r"\b(p\.?\s*o\.?\s*box|post\s+office\s+box|pob\b|p\.?\s*o\.?\s*b\b|postal\s+box)",
    re.IGNORECASE,
)
_CITY = re.compile(r"[A-Za-z ]+")
Sync = PhoneNumber.SyncStatus
E911 = PhoneNumber.E911Status


def clean_cnam(value, field: str = "cnam") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not CNAM.fullmatch(value):
        raise ValidationFailed(
            "a caller ID name is at most 15 characters: letters, digits, spaces and . , & -",
            field=field,
        )
    if sum(char.isalpha() for char in value) < 2:
        raise ValidationFailed("a caller ID name has at least two letters", field=field)
    return value


def cnam_effective(number: PhoneNumber) -> str:
    if number.cnam:
        return number.cnam
    return number.tenant.default_cnam if number.tenant_id else ""


def clean_dispatchable_address(address, field: str = "e911_address") -> dict:
    """A street address 911 can send someone to; a clear message per field otherwise."""
    if not isinstance(address, dict):
        raise ValidationFailed("the address is an object", field=field)
    street = (address.get("street") or "").strip()
    street2 = (address.get("street2") or "").strip()
    city = (address.get("city") or "").strip()
    if street and not _BUILDING_NUMBER.match(street):
        raise ValidationFailed(
            "the street starts with the building number, e.g. 1234 Main St",
            field=f"{field}.street",
        )
    for name, value in (("street", street), ("street2", street2)):
        if _PO_BOX.search(value):
            raise ValidationFailed(
                "a PO box cannot be dispatched to: give the street address where the phones are",
                field=f"{field}.{name}",
            )
    if city and not _CITY.fullmatch(city):
        raise ValidationFailed(
            "write the city in letters and spaces only (Saint Louis, not St. Louis; OFallon, "
            "not O'Fallon): some 911 centres refuse punctuation",
            field=f"{field}.city",
        )
    try:
        cleaned = clean_e911_address(address)
    except ValidationFailed as error:
        raise ValidationFailed(
            error.message, field=(error.field or "").replace("e911_address", field, 1) or field
        ) from None
    if cleaned is None:
        raise ValidationFailed("street, city, state and postal_code are required", field=field)
    return cleaned


def _announce(actor: Actor, number: PhoneNumber, before: dict, changed: dict) -> None:
    from trunkline.phone_numbers.services import number_snapshot

    after = number_snapshot(number)
    audit_record(
        actor=actor,
        action="phone_number.updated",
        object_type="phone_number",
        object_id=number.id,
        tenant_id=number.tenant_id,
        before=before,
        after=after,
    )
    event_emit(
        partner=number.partner,
        type="phone_number.updated",
        data={"phone_number": after, "previous_attributes": changed},
    )


def cnam_sync(number: PhoneNumber, now: datetime) -> None:
    """Send the name the number now shows to the carrier (in the caller's transaction)."""
    name = cnam_effective(number)
    if not name:
        number.cnam_status = Sync.NOT_SET
        return
    submitted = carrier().cnam_update(number.e164, name, now=now)
    request_track(
        partner=number.partner,
        kind=CarrierRequest.Kind.CNAM,
        submitted=submitted,
        phone_number=number,
        payload={"name": name},
        now=now,
    )
    number.cnam_status, number.cnam_error = Sync.PENDING, ""


def number_cnam_set(
    *, actor: Actor, number: PhoneNumber, cnam, now: datetime | None = None
) -> PhoneNumber:
    from trunkline.phone_numbers.services import number_snapshot

    now = now or timezone.now()
    cnam = clean_cnam(cnam)
    with transaction.atomic():
        number = (
            PhoneNumber.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=number.pk)
        )
        if cnam == number.cnam:
            return number
        before = number_snapshot(number)
        previous = number.cnam or None
        number.cnam = cnam
        cnam_sync(number, now)
        number.updated_at = now
        number.save()
        _announce(actor, number, before, {"cnam": previous})
    return number


def number_e911_set(
    *, actor: Actor, number: PhoneNumber, address, apply_to_tenant: bool = False, now=None
) -> list[PhoneNumber]:
    """Set (or, with None, clear) the number's address; with `apply_to_tenant`, every
    number of its tenant gets the same address. All or nothing."""
    now = now or timezone.now()
    cleaned = clean_dispatchable_address(address) if address is not None else None
    numbers = [number]
    # The tenant as stored now (the caller's copy of the number may be older).
    tenant_id = PhoneNumber.objects.filter(pk=number.pk).values_list("tenant_id", flat=True)[0]
    if apply_to_tenant and tenant_id:
        numbers = list(
            PhoneNumber.objects.filter(tenant_id=tenant_id).exclude(
                status=PhoneNumber.Status.DISCONNECTED
            )
        )
    return _e911_apply(actor, numbers, cleaned, now)


def numbers_e911_set(*, actor: Actor, numbers: list[PhoneNumber], address, now=None):
    now = now or timezone.now()
    return _e911_apply(actor, numbers, clean_dispatchable_address(address), now)


def e911_refusal(number: PhoneNumber) -> Conflict | None:
    """A number given up (quarantined or disconnected) keeps the address it had."""
    if number.status in (PhoneNumber.Status.QUARANTINED, PhoneNumber.Status.DISCONNECTED):
        return Conflict(
            f"a {number.status.lower()} number keeps its 911 address as it was",
            type="invalid_state_transition",
        )
    return None


def _e911_apply(actor, numbers, cleaned, now) -> list[PhoneNumber]:
    from trunkline.phone_numbers.services import number_snapshot

    changed = []
    with transaction.atomic():
        for number in PhoneNumber.objects.select_for_update().filter(
            pk__in=[number.pk for number in numbers]
        ):
            refusal = e911_refusal(number)
            if refusal is not None:
                raise refusal
            before = number_snapshot(number)
            previous = number.e911_address
            number.set_e911_address(cleaned)
            if cleaned is None:
                number.e911_status, number.e911_error = E911.NOT_SET, ""
            else:
                submitted = carrier().e911_register(number.e164, cleaned, now=now)
                request_track(
                    partner=number.partner,
                    kind=CarrierRequest.Kind.E911,
                    submitted=submitted,
                    phone_number=number,
                    payload={"address": cleaned},
                    now=now,
                )
                number.e911_status, number.e911_error = E911.PENDING, ""
            number.e911_updated_at = number.updated_at = now
            number.save()
            _announce(actor, number, before, {"e911_address": previous})
            changed.append(number)
    return changed


@on_settled(CarrierRequest.Kind.CNAM)
def _cnam_settled(request: CarrierRequest, status) -> None:
    number = PhoneNumber.objects.select_for_update().get(pk=request.phone_number_id)
    before_status = number.cnam_status
    if request.status == CarrierRequest.Status.DONE:
        number.cnam_status, number.cnam_synced = Sync.SYNCED, request.payload.get("name", "")
    else:
        number.cnam_status, number.cnam_error = Sync.FAILED, request.detail[:200]
    number.save(update_fields=["cnam_status", "cnam_synced", "cnam_error"])
    _announce(Actor.system(partner=number.partner), number, {}, {"cnam_status": before_status})


@on_settled(CarrierRequest.Kind.E911)
def _e911_settled(request: CarrierRequest, status) -> None:
    number = PhoneNumber.objects.select_for_update().get(pk=request.phone_number_id)
    before_status = number.e911_status
    if request.status == CarrierRequest.Status.DONE:
        number.e911_status = E911.REGISTERED
    else:
        number.e911_status, number.e911_error = E911.FAILED, request.detail[:200]
    number.save(update_fields=["e911_status", "e911_error"])
    _announce(Actor.system(partner=number.partner), number, {}, {"e911_status": before_status})


def number_911_capable(e164: str) -> bool:
    """Whether the call engine may treat a call from `e164` as having a registered
    dispatchable address."""
    return PhoneNumber.objects.filter(
        e164=e164,
        status=PhoneNumber.Status.ACTIVE,
        tenant__isnull=False,
        e911_status=E911.REGISTERED,
    ).exists()
