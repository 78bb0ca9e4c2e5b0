"""Porting numbers in (the partner guide's Appendix B): port requests, their documents,
the carrier's answers, and the LOA.

PENDING → SUBMITTED → FOC_RECEIVED → COMPLETED, or → REJECTED (fix, then resubmit) or
→ CANCELLED (any time before COMPLETED). Every change writes an audit row and a
`port_request.*` event in its transaction and emails the partner's admins after commit.
The account PIN is sealed with the platform key (`core.crypto`) and only ever decrypted
to hand it to the carrier.

Completion: the ported numbers become ACTIVE numbers of the partner, each charged its
tier's monthly price from that day (no setup fee: nothing was provisioned for it). They
are assigned to the target tenant up to its Max DIDs and, for a tenant on licences, as far
as its number entitlements go (or its partner's licence policy buys them); numbers that
do not fit, or all of them if the tenant was cancelled meanwhile, stay unassigned in the
partner's inventory (the carrier has already moved them, so refusing is not an option)
and the completion email and notes say so. The charge may take the wallet below zero, like usage.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from trunkline.accounts.selectors import partner_admin_emails
from trunkline.billing import ledger, payment_services
from trunkline.core import crypto
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.email import TRANSACTIONAL, brand_name, send_branded_email
from trunkline.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from trunkline.phone_numbers.carrier import CarrierError, carrier
from trunkline.phone_numbers.carrier_requests import on_settled, request_track
from trunkline.phone_numbers.models import (
    CarrierRequest,
    NumberKind,
    PhoneNumber,
    PortDocument,
    PortRequest,
)
from trunkline.phone_numbers.pricing import number_price
from trunkline.phone_numbers.services import (
    _MONTHLY_POSTING,
    clean_numbers,
    month_end,
    number_snapshot,
    require_writer,
)
from trunkline.tenants.models import Tenant
from trunkline.tenants.validation import clean_e911_address

Status = PortRequest.Status
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
DOCUMENT_TYPES = {  # magic bytes → content type
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
EDITABLE = ("PENDING", "REJECTED")
TEXT_FIELDS = {
    "current_carrier": 100,
    "account_holder": 200,
    "business_name": 200,
    "account_number": 64,
}
NUMBER_OPEN = (PhoneNumber.Status.PENDING, PhoneNumber.Status.ACTIVE)


def _pin_context(port: PortRequest) -> str:
    return f"port_request_pin:{port.id}"


def port_pin(port: PortRequest) -> str:
    """The account PIN in clear, for the carrier only."""
    return (
        crypto.decrypt(port.pin_encrypted, context=_pin_context(port)) if port.pin_encrypted else ""
    )


def port_snapshot(port: PortRequest) -> dict:
    """What events, audit rows and the API show: never the PIN itself."""
    return {
        "id": port.id,
        "tenant_id": port.tenant_id,
        "status": port.status,
        "numbers": list(port.numbers),
        "current_carrier": port.current_carrier,
        "account_holder": port.account_holder,
        "business_name": port.business_name or None,
        "account_number": port.account_number,
        "pin_set": bool(port.pin_encrypted),
        "service_address": service_address(port),
        "desired_date": port.desired_date.isoformat() if port.desired_date else None,
        "foc_date": port.foc_date.isoformat() if port.foc_date else None,
        "rejection_reason": port.rejection_reason or None,
        "notes": port.notes or None,
    }


def service_address(port: PortRequest) -> dict:
    return {
        "street": port.service_street,
        "street2": port.service_street2 or None,
        "city": port.service_city,
        "state": port.service_state,
        "postal_code": port.service_postal_code,
        "country": "US",
    }


# --- validation --------------------------------------------------------------------------


def _clean_text(name: str, value, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} is text", field=name)
    value = " ".join(value.split())
    if required and not value:
        raise ValidationFailed(f"{name} is required", field=name)
    if len(value) > TEXT_FIELDS[name]:
        raise ValidationFailed(f"{name} is at most {TEXT_FIELDS[name]} characters", field=name)
    return value


def _clean_pin(value) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not value.isalnum() or len(value) > 20:
        raise ValidationFailed("pin is up to 20 letters and digits", field="pin")
    return value


def _clean_address(address) -> dict:
    if not isinstance(address, dict) or not address:
        raise ValidationFailed("service_address is required", field="service_address")
    try:
        cleaned = clean_e911_address(address)
    except ValidationFailed as error:
        field = (error.field or "").replace("e911_address", "service_address")
        raise ValidationFailed(error.message, field=field or "service_address") from None
    return cleaned


def _clean_desired(value, now: datetime) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed("desired_date is YYYY-MM-DD", field="desired_date") from None
    if not isinstance(value, date):
        raise ValidationFailed("desired_date is YYYY-MM-DD", field="desired_date")
    if value < timezone.localdate(now):
        raise ValidationFailed("desired_date is in the past", field="desired_date")
    return value


def _check_numbers_free(numbers: list[str], *, partner, port: PortRequest | None) -> None:
    owned = list(
        PhoneNumber.objects.filter(e164__in=numbers)
        .exclude(status=PhoneNumber.Status.DISCONNECTED)
        .values_list("e164", flat=True)
    )
    if owned:
        raise Conflict(
            f"already on the platform: {', '.join(sorted(owned))}",
            field="numbers",
            type="number_owned",
        )
    others = PortRequest.objects.filter(status__in=PortRequest.OPEN)
    if port is not None:
        others = others.exclude(pk=port.pk)
    busy = sorted(
        {n for row in others.values_list("numbers", flat=True) for n in row} & set(numbers)
    )
    if busy:
        raise Conflict(
            f"already in another open port request: {', '.join(busy)}",
            field="numbers",
            type="number_in_port",
        )
    available = carrier().offers(numbers)
    if available:
        raise Conflict(
            f"not with another carrier (you can buy it instead): {', '.join(sorted(available))}",
            field="numbers",
            type="number_not_portable",
        )


def _check_room(tenant: Tenant, count: int) -> None:
    if tenant.status == Tenant.Status.CANCELLED:
        raise Conflict("the tenant is cancelled", field="tenant_id", type="tenant_cancelled")
    if tenant.max_dids is not None:
        held = PhoneNumber.objects.filter(tenant=tenant, status__in=NUMBER_OPEN).count()
        if held + count > tenant.max_dids:
            raise Conflict(
                f"{tenant.name} has {held} of its {tenant.max_dids} numbers (Max DIDs); "
                f"porting {count} more needs a higher limit",
                field="tenant_id",
                type="limit_exceeded",
            )


def _apply_fields(port: PortRequest, fields: dict, now: datetime) -> None:
    if "numbers" in fields:
        port.numbers = clean_numbers(fields["numbers"])
    for name in TEXT_FIELDS:
        if name in fields:
            setattr(port, name, _clean_text(name, fields[name], required=name != "business_name"))
    if "pin" in fields:
        pin = _clean_pin(fields["pin"])
        port.pin_encrypted = crypto.encrypt(pin, context=_pin_context(port)) if pin else ""
    if "service_address" in fields:
        address = _clean_address(fields["service_address"])
        port.service_street, port.service_street2 = address["street"], address["street2"] or ""
        port.service_city, port.service_state = address["city"], address["state"]
        port.service_postal_code = address["postal_code"]
    if "desired_date" in fields:
        port.desired_date = _clean_desired(fields["desired_date"], now)
    if "notes" in fields:
        notes = fields["notes"] or ""
        if not isinstance(notes, str) or len(notes) > 2000:
            raise ValidationFailed("notes is text of at most 2000 characters", field="notes")
        port.notes = notes


# --- effects shared by every change ---------------------------------------------------------


def _record(
    port: PortRequest,
    *,
    actor: Actor,
    action: str,
    before: dict | None,
    now: datetime,
    detail: str = "",
    history: bool = True,
    email: bool = True,
) -> None:
    if history:
        port.history = [
            *port.history,
            {"status": port.status, "at": now.isoformat(), "detail": detail},
        ]
    port.updated_at = now
    port.save()
    after = port_snapshot(port)
    audit_record(
        actor=actor,
        partner=port.partner,
        action=action,
        object_type="port_request",
        object_id=port.id,
        tenant_id=port.tenant_id,
        before=before,
        after=after,
    )
    data = {"port_request": after}
    if before is not None:
        data["previous_attributes"] = {k: before[k] for k in after if before.get(k) != after[k]}
    event_emit(partner=port.partner, type=action, data=data)
    if email:
        _email(port, action, detail)


_SUBJECTS = {
    "port_request.created": "Port request {id} created",
    "port_request.updated": "Port request {id} updated",
    "port_request.submitted": "Port request {id} submitted to the carrier",
    "port_request.foc_received": "Port request {id}: FOC date {foc}",
    "port_request.completed": "Port request {id} completed: your numbers are live",
    "port_request.rejected": "Port request {id} rejected by the carrier",
    "port_request.cancelled": "Port request {id} cancelled",
}


def _email(port: PortRequest, action: str, detail: str) -> None:
    # The guide: "We email you on every status change." No notification toggle covers
    # porting, so these are sent like other mail about the partner's own orders.
    partner = port.partner
    send_branded_email(
        partner=partner,
        to=partner_admin_emails(partner) or [partner.billing_email],
        category=TRANSACTIONAL,
        subject=_SUBJECTS[action].format(id=port.id, foc=port.foc_date),
        body=render_to_string(
            "phone_numbers/emails/port_request.txt",
            {"port": port, "action": action, "detail": detail, "brand": brand_name(partner)},
        ),
    )


def _locked(port: PortRequest) -> PortRequest:
    return (
        PortRequest.objects.select_for_update(of=("self",))
        .select_related("partner", "tenant")
        .get(pk=port.pk)
    )


def _require(port: PortRequest, allowed: tuple[str, ...], doing: str) -> None:
    if port.status not in allowed:
        raise InvalidTransition(f"a {port.status} port request cannot be {doing}")


# --- services ------------------------------------------------------------------------------


def port_request_create(
    *, actor: Actor, tenant: Tenant, fields: dict, now: datetime | None = None
) -> PortRequest:
    partner = require_writer(actor)
    now = now or timezone.now()
    if tenant.partner_id != partner.id or not actor.sees_tenant(tenant.id):
        raise NotFound("no such tenant", field="tenant_id")
    port = PortRequest(partner=partner, tenant=tenant, created_at=now)
    port.id = port._meta.pk.get_default()
    for name in ("numbers", "current_carrier", "account_holder", "account_number"):
        if name not in fields:
            raise ValidationFailed(f"{name} is required", field=name)
    if "service_address" not in fields:
        raise ValidationFailed("service_address is required", field="service_address")
    _apply_fields(port, fields, now)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        _check_room(tenant, len(port.numbers))
        _check_numbers_free(port.numbers, partner=partner, port=None)
        _record(port, actor=actor, action="port_request.created", before=None, now=now)
    return port


def port_request_update(
    *, actor: Actor, port: PortRequest, fields: dict, now: datetime | None = None
) -> PortRequest:
    """Fix a request's details while it is PENDING or REJECTED."""
    require_writer(actor)
    now = now or timezone.now()
    if not fields:
        raise ValidationFailed("nothing to change", field=None)
    with transaction.atomic():
        port = _locked(port)
        _require(port, EDITABLE, "edited")
        before = port_snapshot(port)
        _apply_fields(port, fields, now)
        if "numbers" in fields:
            _check_numbers_free(port.numbers, partner=port.partner, port=port)
        _record(
            port, actor=actor, action="port_request.updated", before=before, now=now, history=False
        )
    return port


def port_document_upload(
    *,
    actor: Actor,
    port: PortRequest,
    kind: str,
    filename: str,
    content: bytes,
    now: datetime | None = None,
) -> PortDocument:
    """Attach the signed LOA or a recent bill: PDF, PNG or JPEG (told by its first bytes,
    whatever the upload claims), at most 10 MB, stored sealed with its SHA-256."""
    require_writer(actor)
    now = now or timezone.now()
    if kind not in PortDocument.Kind.values:
        raise ValidationFailed("kind is loa or bill", field="kind")
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed("the file is larger than 10 MB", field="file")
    content_type = next(
        (t for magic, t in DOCUMENT_TYPES.items() if content.startswith(magic)), None
    )
    if content_type is None:
        raise ValidationFailed("the file is not a PDF, PNG or JPEG", field="file")
    name = "".join(c for c in (filename or "document") if c.isprintable() and c not in '/\\"')
    with transaction.atomic():
        port = _locked(port)
        _require(port, EDITABLE, "given documents")
        document = PortDocument(
            port_request=port,
            kind=kind,
            filename=name[-200:] or "document",
            content_type=content_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_at=now,
        )
        document.id = document._meta.pk.get_default()
        document.content = crypto.seal_bytes(content, context=f"port_document:{document.id}")
        document.save()
        audit_record(
            actor=actor,
            partner=port.partner,
            action="port_request.document_uploaded",
            object_type="port_request",
            object_id=port.id,
            tenant_id=port.tenant_id,
            after={"document_id": document.id, "kind": kind, "sha256": document.sha256},
        )
        before = port_snapshot(port)
        _record(
            port,
            actor=actor,
            action="port_request.updated",
            before=before,
            now=now,
            detail=f"{document.get_kind_display()} uploaded",
            history=False,
        )
    return document


def port_document_content(document: PortDocument) -> bytes:
    return crypto.open_bytes(bytes(document.content), context=f"port_document:{document.id}")


def _carrier_payload(port: PortRequest) -> dict:
    return {
        "port_request_id": port.id,
        "numbers": list(port.numbers),
        "current_carrier": port.current_carrier,
        "account_holder": port.account_holder,
        "business_name": port.business_name,
        "account_number": port.account_number,
        "pin": port_pin(port),
        "service_address": service_address(port),
        "desired_date": port.desired_date.isoformat() if port.desired_date else "",
    }


def _send(port: PortRequest, *, actor: Actor, action: str, now: datetime) -> PortRequest:
    with transaction.atomic():
        port = _locked(port)
        allowed = ("PENDING",) if action == "port_request.submitted" else ("REJECTED",)
        _require(port, allowed, "submitted" if allowed == ("PENDING",) else "resubmitted")
        if not port.documents.filter(kind=PortDocument.Kind.LOA).exists():
            raise Conflict("upload the signed LOA first", field="documents", type="loa_required")
        tenant = Tenant.objects.select_for_update().get(pk=port.tenant_id)
        _check_room(tenant, len(port.numbers))
        _check_numbers_free(port.numbers, partner=port.partner, port=port)
        before = port_snapshot(port)
        try:
            submitted = carrier().port_submit(_carrier_payload(port), now=now)
        except CarrierError as error:
            raise Conflict(f"the carrier refused the port: {error}", type="carrier_error") from None
        # The PIN stays out of the tracked payload: it is stored sealed on the port only.
        request_track(
            partner=port.partner,
            kind=CarrierRequest.Kind.PORT,
            submitted=submitted,
            port_request=port,
            payload={"port_request": port.id},
            now=now,
        )
        port.status = Status.SUBMITTED
        port.rejection_reason = ""
        port.foc_date = None
        port.submitted_at = now
        _record(
            port,
            actor=actor,
            action="port_request.submitted",
            before=before,
            now=now,
            detail="resubmitted" if action == "port_request.resubmitted" else "",
        )
    return port


def port_request_submit(*, actor: Actor, port: PortRequest, now: datetime | None = None):
    require_writer(actor)
    return _send(port, actor=actor, action="port_request.submitted", now=now or timezone.now())


def port_request_resubmit(*, actor: Actor, port: PortRequest, now: datetime | None = None):
    """A REJECTED request, its details fixed, goes back to the carrier."""
    require_writer(actor)
    return _send(port, actor=actor, action="port_request.resubmitted", now=now or timezone.now())


def port_request_cancel(
    *, actor: Actor, port: PortRequest, now: datetime | None = None
) -> PortRequest:
    require_writer(actor)
    now = now or timezone.now()
    with transaction.atomic():
        # The carrier request first, then the port: the order the sync job locks them in.
        pending = list(
            CarrierRequest.objects.select_for_update().filter(
                port_request_id=port.pk, status=CarrierRequest.Status.PENDING
            )
        )
        port = _locked(port)
        _require(port, PortRequest.OPEN, "cancelled")
        for request in pending:
            try:
                carrier().port_cancel(request.carrier_ref, now=now)
            except CarrierError as error:
                raise Conflict(
                    f"the carrier could not cancel the port: {error}", type="carrier_error"
                ) from None
            request.status, request.settled_at = CarrierRequest.Status.CANCELLED, now
            request.detail = "cancelled"
            request.save(update_fields=["status", "settled_at", "detail"])
        before = port_snapshot(port)
        port.status, port.cancelled_at = Status.CANCELLED, now
        _record(port, actor=actor, action="port_request.cancelled", before=before, now=now)
    return port


# --- the carrier's answers ---------------------------------------------------------------------


@on_settled(CarrierRequest.Kind.PORT)
def _port_settled(request: CarrierRequest, status) -> None:
    port = PortRequest.objects.select_for_update().filter(pk=request.port_request_id).first()
    if port is None or port.status not in (Status.SUBMITTED, Status.FOC_RECEIVED):
        return
    now = request.checked_at or timezone.now()
    actor = Actor.system(partner=port.partner)
    if status.foc_date and port.status == Status.SUBMITTED:
        before = port_snapshot(port)
        port.status, port.foc_date = Status.FOC_RECEIVED, status.foc_date
        _record(
            port,
            actor=actor,
            action="port_request.foc_received",
            before=before,
            now=now,
            detail=f"FOC date {status.foc_date:%Y-%m-%d}",
        )
    if request.status == CarrierRequest.Status.DONE:
        _complete(port, actor=actor, now=now)
    elif request.status == CarrierRequest.Status.FAILED:
        before = port_snapshot(port)
        port.status, port.rejection_reason = Status.REJECTED, (status.detail or "rejected")[:300]
        _record(
            port,
            actor=actor,
            action="port_request.rejected",
            before=before,
            now=now,
            detail=port.rejection_reason,
        )


def _entitled(tenant: Tenant, kind: str) -> bool:
    """The tenant, when on licences, has a number entitlement free for one more number of
    `kind`, or its partner's licence policy buys one."""
    from trunkline.licensing.entitlements import numbers_entitlement_plan
    from trunkline.licensing.services import LicenseRequired

    try:
        numbers_entitlement_plan(tenant, [kind])
    except LicenseRequired:
        return False
    return True


def _complete(port: PortRequest, *, actor: Actor, now: datetime) -> None:
    from trunkline.licensing.entitlements import number_entitlement_take

    partner = port.partner
    tenant = Tenant.objects.select_for_update().get(pk=port.tenant_id)
    room = (
        None
        if tenant.max_dids is None
        else max(
            0,
            tenant.max_dids
            - PhoneNumber.objects.filter(tenant=tenant, status__in=NUMBER_OPEN).count(),
        )
    )
    if tenant.status == Tenant.Status.CANCELLED:
        room = 0
    taken = set(
        PhoneNumber.objects.filter(e164__in=port.numbers)
        .exclude(status=PhoneNumber.Status.DISCONNECTED)
        .values_list("e164", flat=True)
    )
    paid_through = month_end(timezone.localdate(now))
    landed, unassigned, unentitled = [], [], []
    for e164 in port.numbers:
        if e164 in taken:
            continue
        kind = (
            NumberKind.TOLL_FREE
            if e164[2:5] in ("800", "833", "844", "855", "866", "877", "888")
            else NumberKind.LOCAL
        )
        assign = (room is None or room > 0) and _entitled(tenant, kind)
        if not assign and (room is None or room > 0):
            unentitled.append(e164)
        if room is not None and assign:
            room -= 1
        number = PhoneNumber.objects.create(
            partner=partner,
            tenant=tenant if assign else None,
            e164=e164,
            kind=kind,
            status=PhoneNumber.Status.ACTIVE,
            carrier=carrier().name,
            paid_through=paid_through,
            port_request=port,
            purchased_at=now,
            assigned_at=now if assign else None,
            created_at=now,
            updated_at=now,
        )
        (landed if assign else unassigned).append(e164)
        if assign:
            number_entitlement_take(actor=actor, tenant=tenant, number=number, now=now)
        price = number_price(partner=partner, kind=kind, at=now)
        ledger.wallet_debit(
            partner=partner,
            amount=price.monthly,
            type=_MONTHLY_POSTING[kind],
            actor=actor,
            idempotency_key=f"did_monthly:{number.id}:{paid_through:%Y-%m}",
            memo=f"{e164} (ported in), {paid_through:%B %Y}",
            reference=number.id,
            allow_negative=True,
            now=now,
        )
        event_emit(
            partner=partner,
            type="phone_number.assigned" if assign else "phone_number.updated",
            data={"phone_number": number_snapshot(number), "previous_tenant_id": None}
            if assign
            else {"phone_number": number_snapshot(number), "previous_attributes": {}},
        )
    notes = []
    over = [e164 for e164 in unassigned if e164 not in unentitled]
    if over:
        why = (
            "the tenant is cancelled"
            if tenant.status == Tenant.Status.CANCELLED
            else (f"{tenant.name} reached its Max DIDs")
        )
        notes.append(f"Left unassigned in your inventory ({why}): {', '.join(over)}")
    if unentitled:
        notes.append(
            f"Left unassigned in your inventory ({tenant.name} has no free number "
            f"entitlement for them): {', '.join(unentitled)}"
        )
    if taken:
        notes.append(f"Already on the platform, not added again: {', '.join(sorted(taken))}")
    before = port_snapshot(port)
    port.status, port.completed_at = Status.COMPLETED, now
    if notes:
        port.notes = "\n".join(filter(None, [port.notes, *notes]))[:5000]
    _record(
        port,
        actor=actor,
        action="port_request.completed",
        before=before,
        now=now,
        detail="; ".join(notes),
    )
    payment_services.wallet_after_debit(partner)
