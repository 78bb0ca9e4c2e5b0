"""`/v1/phone-numbers`: buying, listing, editing, assigning and releasing numbers, one or
many at once, and reclaiming a quarantined one."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import ValidationFailed
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.phone_numbers import bulk, caller_id, quarantine, selectors, services
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.tenants.schemas import E911AddressIn, E911AddressOut
from trunkline.tenants.selectors import tenant_get

router = Router(tags=["Phone numbers"])

NumberStatus = Literal["PENDING", "ACTIVE", "RELEASED", "QUARANTINED"]
E911Status = Literal["NOT_SET", "PENDING", "REGISTERED", "FAILED"]


class PhoneNumberOut(Schema):
    id: str
    number: str = Field(description="E.164")
    kind: Literal["local", "toll_free"]
    status: str
    tenant_id: str | None
    tenant_name: str | None
    state: str | None
    city: str | None
    rate_center: str | None
    route: dict | None = Field(
        description="Where calls to it go: a destination ({type, id} or {type: external, "
        "number} or {type: hangup}); null follows the tenant's unassigned-DID route. Set it "
        "with PUT /v1/tenants/{tenant_id}/phone-numbers/{id}/route"
    )
    cnam: str | None = Field(description="The number's own caller ID name; null inherits")
    cnam_effective: str | None = Field(description="The name calls from it show")
    cnam_status: Literal["NOT_SET", "PENDING", "SYNCED", "FAILED"]
    e911_address: E911AddressOut | None
    e911_status: E911Status
    e911_error: str | None
    reserved: bool
    reserved_note: str | None
    purchased_at: datetime
    assigned_at: datetime | None
    paid_through: str | None
    quarantined_until: datetime | None = Field(
        description="QUARANTINED: reclaimable until then; afterwards it returns to the carrier"
    )


def _out(number: PhoneNumber) -> dict:
    return {
        "id": number.id,
        "number": number.e164,
        "kind": number.kind,
        "status": number.status,
        "tenant_id": number.tenant_id,
        "tenant_name": number.tenant.name if number.tenant_id else None,
        "state": number.state or None,
        "city": number.city or None,
        "rate_center": number.rate_center or None,
        "route": number.route,
        "cnam": number.cnam or None,
        "cnam_effective": caller_id.cnam_effective(number) or None,
        "cnam_status": number.cnam_status,
        "e911_address": number.e911_address,
        "e911_status": number.e911_status,
        "e911_error": number.e911_error or None,
        "reserved": number.reserved,
        "reserved_note": number.reserved_note or None,
        "purchased_at": number.purchased_at,
        "assigned_at": number.assigned_at,
        "paid_through": number.paid_through.isoformat() if number.paid_through else None,
        "quarantined_until": number.quarantined_until,
    }


class NumberListQuery(Schema):
    tenant_id: str | None = Field(default=None, max_length=40)
    unassigned: bool | None = None
    status: NumberStatus | None = None
    kind: Literal["local", "toll_free"] | None = None
    e911_status: E911Status | None = None
    reserved: bool | None = None
    search: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class PurchaseIn(InSchema):
    numbers: list[str] = Field(min_length=1, max_length=services.MAX_ORDER)


class QuoteLine(Schema):
    number: str
    kind: str
    monthly: str
    setup_fee: str


class QuoteOut(Schema):
    numbers: list[QuoteLine]
    monthly_total: str
    setup_total: str
    total: str
    wallet_balance: str
    auto_recharge: bool


class AssignIn(InSchema):
    tenant_id: str | None = Field(max_length=40, description="null takes the number back")


class ReserveIn(InSchema):
    note: str = Field(default="", max_length=200)


class NumberPatch(InSchema):
    cnam: str | None = Field(default=None, max_length=15)
    e911_address: E911AddressIn | None = None
    apply_to_tenant: bool = Field(
        default=False, description="Give every number of this number's tenant the same address"
    )


class BulkIn(InSchema):
    ids: list[str] = Field(min_length=1, max_length=bulk.MAX_BULK)
    dry_run: bool = Field(
        default=False, description="Answer the confirmation summary and change nothing"
    )


class BulkAssignIn(BulkIn):
    tenant_id: str | None = Field(max_length=40, description="null takes the numbers back")


class BulkE911In(BulkIn):
    e911_address: E911AddressIn


class BulkRefusal(Schema):
    id: str
    number: str
    type: str
    message: str


class BulkTenantCount(Schema):
    id: str
    name: str
    before: int = Field(description="Numbers it holds now (counted against Max DIDs)")
    after: int
    max_dids: int | None
    headroom: int | None = Field(description="Places left under Max DIDs after; null: no limit")


class BulkCharge(Schema):
    numbers: list[str] = Field(description="Ids of RELEASED numbers that pay this month now")
    total: str
    wallet_balance: str
    covered: bool


class BulkLimitError(Schema):
    type: str
    message: str


class BulkLicenses(Schema):
    sku: str
    quantity: int


class BulkPreviewOut(Schema):
    action: Literal["assign", "release", "e911"]
    count: int
    refused: list[BulkRefusal]
    limit_error: BulkLimitError | None
    tenants: list[BulkTenantCount]
    charge: BulkCharge
    monthly_stopping: str = Field(description="Release: the monthly charges that stop")
    licenses_bought: list[BulkLicenses] = Field(
        default_factory=list,
        description="Assign to a tenant on licences: the number entitlements its partner's "
        "licence policy buys automatically (billed on the tenant's next invoice)",
    )
    can_proceed: bool
    e911_address: E911AddressOut | None = None


class BulkDoneOut(Schema):
    count: int
    data: list[PhoneNumberOut]


def _done(numbers) -> dict:
    # Released numbers have no tenant any more: read them back by id, not through the
    # caller's scope (a tenant-scoped key would no longer see them).
    rows = PhoneNumber.objects.select_related("tenant").filter(pk__in=[n.pk for n in numbers])
    return {"count": len(numbers), "data": [_out(number) for number in rows.order_by("e164")]}


def _target(request, tenant_id: str | None):
    return None if tenant_id is None else tenant_get(actor=request.actor, tenant_id=tenant_id)


def _reload(request, number_id: str) -> dict:
    return _out(selectors.phone_number_get(actor=request.actor, number_id=number_id))


@router.get("/phone-numbers", response=ListOut[PhoneNumberOut], auth=scope("phone_numbers:read"))
def list_numbers(request, query: Query[NumberListQuery]):
    numbers = selectors.phone_number_list(
        actor=request.actor,
        tenant_id=query.tenant_id,
        unassigned=query.unassigned,
        status=query.status,
        kind=query.kind,
        e911_status=query.e911_status,
        reserved=query.reserved,
        search=query.search,
    )
    page = paginate(numbers, limit=query.limit, cursor=query.cursor, sort_field="e164")
    return {"data": [_out(number) for number in page.items], "next_cursor": page.next_cursor}


@router.post("/phone-numbers/purchase/quote", response=QuoteOut, auth=scope("phone_numbers:write"))
def quote_purchase(request, payload: PurchaseIn):
    return services.purchase_quote(actor=request.actor, numbers=payload.numbers)


@router.post(
    "/phone-numbers/purchase",
    response={201: ListOut[PhoneNumberOut]},
    auth=scope("phone_numbers:write"),
)
def purchase(request, payload: PurchaseIn):
    bought = services.numbers_purchase(actor=request.actor, numbers=payload.numbers)
    return Status(201, {"data": [_out(number) for number in bought], "next_cursor": None})


# Registered before the `/phone-numbers/{number_id}/…` routes, which would take "bulk".
@router.post(
    "/phone-numbers/bulk/assign/preview",
    response=BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_assign_preview(request, payload: BulkAssignIn):
    return bulk.numbers_bulk_assign_preview(
        actor=request.actor, numbers=payload.ids, tenant=_target(request, payload.tenant_id)
    )


@router.post(
    "/phone-numbers/bulk/assign",
    response=BulkDoneOut | BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_assign(request, payload: BulkAssignIn):
    tenant = _target(request, payload.tenant_id)
    if payload.dry_run:
        return bulk.numbers_bulk_assign_preview(
            actor=request.actor, numbers=payload.ids, tenant=tenant
        )
    return _done(bulk.numbers_bulk_assign(actor=request.actor, numbers=payload.ids, tenant=tenant))


@router.post(
    "/phone-numbers/bulk/release/preview",
    response=BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_release_preview(request, payload: BulkIn):
    return bulk.numbers_bulk_release_preview(actor=request.actor, numbers=payload.ids)


@router.post(
    "/phone-numbers/bulk/release",
    response=BulkDoneOut | BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_release(request, payload: BulkIn):
    if payload.dry_run:
        return bulk.numbers_bulk_release_preview(actor=request.actor, numbers=payload.ids)
    return _done(bulk.numbers_bulk_release(actor=request.actor, numbers=payload.ids))


@router.post(
    "/phone-numbers/bulk/e911/preview",
    response=BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_e911_preview(request, payload: BulkE911In):
    address = payload.e911_address.model_dump()
    return bulk.numbers_bulk_e911_preview(actor=request.actor, numbers=payload.ids, address=address)


@router.post(
    "/phone-numbers/bulk/e911",
    response=BulkDoneOut | BulkPreviewOut,
    auth=scope("phone_numbers:write"),
)
def bulk_e911(request, payload: BulkE911In):
    address = payload.e911_address.model_dump()
    if payload.dry_run:
        return bulk.numbers_bulk_e911_preview(
            actor=request.actor, numbers=payload.ids, address=address
        )
    return _done(bulk.numbers_bulk_e911(actor=request.actor, numbers=payload.ids, address=address))


@router.get("/phone-numbers/{number_id}", response=PhoneNumberOut, auth=scope("phone_numbers:read"))
def get_number(request, number_id: str):
    return _reload(request, number_id)


@router.patch(
    "/phone-numbers/{number_id}", response=PhoneNumberOut, auth=scope("phone_numbers:write")
)
def update_number(request, number_id: str, payload: NumberPatch):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    services.require_writer(request.actor)
    changes = payload.model_dump(exclude_unset=True)
    if not changes.keys() & {"cnam", "e911_address"}:
        raise ValidationFailed("nothing to change: give cnam or e911_address", field=None)
    if "cnam" in changes:
        caller_id.number_cnam_set(actor=request.actor, number=number, cnam=changes["cnam"])
    if "e911_address" in changes:
        caller_id.number_e911_set(
            actor=request.actor,
            number=number,
            address=changes["e911_address"],
            apply_to_tenant=changes.get("apply_to_tenant", False),
        )
    return _reload(request, number_id)


@router.post(
    "/phone-numbers/{number_id}/assign", response=PhoneNumberOut, auth=scope("phone_numbers:write")
)
def assign_number(request, number_id: str, payload: AssignIn):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    tenant = None
    if payload.tenant_id is not None:
        tenant = tenant_get(actor=request.actor, tenant_id=payload.tenant_id)
    services.number_assign(actor=request.actor, number=number, tenant=tenant)
    return _reload(request, number_id)


@router.post(
    "/phone-numbers/{number_id}/release", response=PhoneNumberOut, auth=scope("phone_numbers:write")
)
def release_number(request, number_id: str):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    services.number_release(actor=request.actor, number=number)
    # A released number has no tenant: a tenant-scoped key no longer sees it.
    return _out(PhoneNumber.objects.select_related("tenant").get(pk=number.pk))


@router.post(
    "/phone-numbers/{number_id}/reserve", response=PhoneNumberOut, auth=scope("phone_numbers:write")
)
def reserve_number(request, number_id: str, payload: ReserveIn):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    services.number_reserve(actor=request.actor, number=number, reserved=True, note=payload.note)
    return _reload(request, number_id)


@router.post(
    "/phone-numbers/{number_id}/unreserve",
    response=PhoneNumberOut,
    auth=scope("phone_numbers:write"),
)
def unreserve_number(request, number_id: str):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    services.number_reserve(actor=request.actor, number=number, reserved=False, note="")
    return _reload(request, number_id)


@router.post(
    "/phone-numbers/{number_id}/reclaim",
    response=PhoneNumberOut,
    auth=scope("phone_numbers:write"),
)
def reclaim_number(request, number_id: str):
    """Take a QUARANTINED number back into the inventory (RELEASED) before its window
    ends. Permanent release itself is a platform staff action, not part of the API."""
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    quarantine.number_reclaim(actor=request.actor, number=number)
    return _reload(request, number_id)
