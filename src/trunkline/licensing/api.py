"""`/v1/license-skus` (the catalog), `/license-policy` (the partner's), and per tenant
`/licenses` (the overview), `/license-subscriptions`, site allocations and
`/license-assignments` (see licensing/services.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field, StringConstraints

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import NotFound
from trunkline.core.money import Money
from trunkline.core.schemas import InSchema, ListOut
from trunkline.licensing import mass_config, policy, selectors, services
from trunkline.licensing.models import LicenseSku, LicenseSubscription
from trunkline.pbx.models import Site
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Licences"])
Kind = Literal["user_base", "user_addon", "call_flow_base", "call_flow_addon", "trunk", "number"]


class SkuOut(Schema):
    code: str = Field(examples=["seat_basic"])
    name: str
    kind: str
    description: str
    features: list[str]
    quotas: dict[str, int] = Field(description="per licence; add-ons add to the seat's")
    scope: dict
    is_burst: bool
    call_flow_type: str
    price: str = Field(description="list price per billing period, dollars")
    frequency: str


def sku_json(sku: LicenseSku) -> dict:
    return {
        "code": sku.code,
        "name": sku.name,
        "kind": sku.kind,
        "description": sku.description,
        "features": sku.features or [],
        "quotas": sku.quotas or {},
        "scope": sku.scope or {},
        "is_burst": sku.is_burst,
        "call_flow_type": sku.call_flow_type,
        "price": Money(sku.price_micros).to_json(),
        "frequency": sku.frequency,
    }


class KindQuery(Schema):
    kind: Kind | None = None


@router.get("/license-skus", response=ListOut[SkuOut], auth=scope("licenses:read"))
def list_skus(request, query: Query[KindQuery]):
    """The licence catalog: every licence a tenant can hold, what it grants and costs."""
    found = LicenseSku.objects.filter(active=True)
    if query.kind:
        found = found.filter(kind=query.kind)
    return {"data": [sku_json(sku) for sku in found], "next_cursor": None}


def _tenant(request, tenant_id: str):
    return tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])


class SiteFigures(Schema):
    site_id: str
    site_name: str
    allocated: int
    used: int


class LicenseRow(Schema):
    sku: str
    name: str
    kind: str
    limit: int = Field(description="held: the quantities of the active subscriptions")
    in_use: int = Field(description="allocated to sites (the tenant-level 'in use')")
    assigned: int = Field(description="given to users, call flows, trunks or numbers")
    unallocated: int
    depleted: bool = Field(description="every licence held is allocated and assigned")
    sites: list[SiteFigures]


class OverviewOut(Schema):
    governed: bool = Field(description="the tenant's billing profile uses licences")
    data: list[LicenseRow]


@router.get("/tenants/{tenant_id}/licenses", response=OverviewOut, auth=scope("licenses:read"))
def overview(request, tenant_id: str, query: Query[KindQuery]):
    """Limit, in use and assigned per licence, with each site's allocated and used."""
    tenant = _tenant(request, tenant_id)
    return {
        "governed": services.governed(tenant),
        "data": services.overview(tenant, kind=query.kind),
    }


class SubscriptionOut(Schema):
    id: str = Field(description="the UUID a licence is terminated by")
    tenant_id: str
    sku: str
    quantity: int = Field(strict=True, ge=0, le=100_000)
    status: str
    automatic: bool
    started_at: datetime
    terminated_at: datetime | None


class SubscriptionIn(InSchema):
    sku: str = Field(max_length=64)
    quantity: int = Field(strict=True, ge=0, le=100_000)


class SubscriptionQuery(Schema):
    status: Literal["ACTIVE", "TERMINATED"] | None = None
    sku: str | None = Field(default=None, max_length=64)


@router.get(
    "/tenants/{tenant_id}/license-subscriptions",
    response=ListOut[SubscriptionOut],
    auth=scope("licenses:read"),
)
def list_subscriptions(request, tenant_id: str, query: Query[SubscriptionQuery]):
    found = LicenseSubscription.objects.filter(tenant=_tenant(request, tenant_id))
    if query.status:
        found = found.filter(status=query.status)
    if query.sku:
        found = found.filter(sku_id=query.sku)
    return {"data": [services.subscription_json(s) for s in found], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/license-subscriptions",
    response={201: SubscriptionOut},
    auth=scope("licenses:write"),
)
def add_subscription(request, tenant_id: str, payload: SubscriptionIn):
    """The tenant takes more licences of one kind (billed from its next invoice)."""
    subscription = services.subscription_add(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        sku_code=payload.sku,
        quantity=payload.quantity,
    )
    return Status(201, services.subscription_json(subscription))


@router.get(
    "/tenants/{tenant_id}/license-subscriptions/{subscription_id}",
    response=SubscriptionOut,
    auth=scope("licenses:read"),
)
def get_subscription(request, tenant_id: str, subscription_id: str):
    tenant = _tenant(request, tenant_id)
    return services.subscription_json(services.subscription_get(tenant, subscription_id[:64]))


@router.post(
    "/tenants/{tenant_id}/license-subscriptions/{subscription_id}/terminate",
    response=SubscriptionOut,
    auth=scope("licenses:write"),
)
def terminate_subscription(request, tenant_id: str, subscription_id: str):
    """End a subscription by its UUID; refused (409 `license_in_use`) while the licences
    left would not cover those assigned."""
    subscription = services.subscription_terminate(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        subscription_id=subscription_id[:64],
    )
    return services.subscription_json(subscription)


def _site(request, tenant_id: str, site_id: str) -> Site:
    found = (
        Site.objects.select_related("tenant__partner")
        .filter(tenant=_tenant(request, tenant_id), pk=site_id[:64])
        .first()
    )
    if found is None:
        raise NotFound("no such site", field="site_id")
    return found


@router.get(
    "/tenants/{tenant_id}/sites/{site_id}/licenses",
    response=ListOut[LicenseRow],
    auth=scope("licenses:read"),
)
def site_overview(request, tenant_id: str, site_id: str):
    """The site-level licence page: each licence with this site's figures only."""
    site = _site(request, tenant_id, site_id)
    return {"data": services.site_overview(site), "next_cursor": None}


class AllocationIn(InSchema):
    quantity: int = Field(strict=True, ge=0, le=100_000)


class AllocationOut(Schema):
    site_id: str
    sku: str
    allocated: int
    used: int


@router.put(
    "/tenants/{tenant_id}/sites/{site_id}/licenses/{sku}",
    response=AllocationOut,
    auth=scope("licenses:write"),
)
def set_allocation(request, tenant_id: str, site_id: str, sku: str, payload: AllocationIn):
    """Give the site exactly this many of the tenant's licences of one kind."""
    site = _site(request, tenant_id, site_id)
    row = services.allocation_set(
        actor=request.actor, site=site, sku_code=sku[:64], quantity=payload.quantity
    )
    return {
        "site_id": site.id,
        "sku": row.sku_id,
        "allocated": row.quantity,
        "used": services.site_used(site, row.sku),
    }


class MigrateIn(InSchema):
    sku: str = Field(max_length=64)
    from_site_id: str = Field(max_length=64)
    to_site_id: str = Field(max_length=64)
    quantity: int = Field(strict=True, ge=0, le=100_000)


@router.post(
    "/tenants/{tenant_id}/licenses/migrate",
    response=ListOut[LicenseRow],
    auth=scope("licenses:write"),
)
def migrate(request, tenant_id: str, payload: MigrateIn):
    """Move free licences of one kind from one site to another."""
    tenant = _tenant(request, tenant_id)
    services.allocation_migrate(
        actor=request.actor,
        tenant=tenant,
        sku_code=payload.sku,
        from_site_id=payload.from_site_id,
        to_site_id=payload.to_site_id,
        quantity=payload.quantity,
    )
    rows = [row for row in services.overview(tenant) if row["sku"] == payload.sku]
    return {"data": rows, "next_cursor": None}


class AssignmentOut(Schema):
    id: str
    tenant_id: str
    site_id: str
    sku: str
    target_type: str
    target_id: str
    is_base: bool
    created_at: datetime


class AssignmentIn(InSchema):
    sku: str = Field(max_length=64)
    target_type: Literal["extension", "call_flow", "trunk", "number"] = "extension"
    target_id: str = Field(max_length=64)


class ReassignIn(InSchema):
    target_id: str = Field(max_length=64)


class AssignmentQuery(Schema):
    sku: str | None = Field(default=None, max_length=64, description="search by licence")
    kind: Kind | None = None
    target_id: str | None = Field(default=None, max_length=64, description="search by user")
    extension: str | None = Field(
        default=None, max_length=6, description="search by extension number"
    )
    user: str | None = Field(
        default=None, max_length=100, description="search by user name (a part of it)"
    )
    site_id: str | None = Field(default=None, max_length=64)


@router.get(
    "/tenants/{tenant_id}/license-assignments",
    response=ListOut[AssignmentOut],
    auth=scope("licenses:read"),
)
def list_assignments(request, tenant_id: str, query: Query[AssignmentQuery]):
    """Who has which licence; search by licence, kind, user (id or name), extension number
    or site."""
    found = selectors.assignment_search(
        _tenant(request, tenant_id),
        sku=query.sku,
        kinds=[query.kind] if query.kind else None,
        target_id=query.target_id,
        site_id=query.site_id,
        extension=query.extension,
        user_name=query.user,
    )
    return {"data": [services.assignment_json(a) for a in found[:5000]], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/license-assignments",
    response={201: AssignmentOut},
    auth=scope("licenses:write"),
)
def assign(request, tenant_id: str, payload: AssignmentIn):
    """Give a user an add-on from its site's licences (409 `license_required` when none
    is free)."""
    assignment = services.assignment_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        sku_code=payload.sku,
        target_type=payload.target_type,
        target_id=payload.target_id,
    )
    return Status(201, services.assignment_json(assignment))


@router.post(
    "/tenants/{tenant_id}/license-assignments/{assignment_id}/reassign",
    response=AssignmentOut,
    auth=scope("licenses:write"),
)
def reassign(request, tenant_id: str, assignment_id: str, payload: ReassignIn):
    """Give the add-on to another user at the same site."""
    assignment = services.assignment_reassign(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        assignment_id=assignment_id[:64],
        target_id=payload.target_id,
    )
    return services.assignment_json(assignment)


@router.delete(
    "/tenants/{tenant_id}/license-assignments/{assignment_id}",
    response={204: None},
    auth=scope("licenses:write"),
)
def unassign(request, tenant_id: str, assignment_id: str):
    """Take an add-on off a user; the licence stays with the site."""
    services.assignment_delete(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        assignment_id=assignment_id[:64],
    )
    return Status(204, None)


# --- the partner's licence policy ------------------------------------------------------------


class PolicyOut(Schema):
    auto_purchase_numbers: bool = Field(
        description="Buy a number entitlement (a subscription of one, `automatic`) when a "
        "tenant on licences is given a number and has none free"
    )
    numbers_per_user: dict[str, int] = Field(
        description="Seat licence code → most numbers a user on that seat may have; a seat "
        "not named has no cap",
        examples=[{"seat_basic": 5, "seat_premium": 10}],
    )
    updated_at: datetime | None


SeatCode = Annotated[str, StringConstraints(max_length=64)]
Cap = Annotated[int, Field(strict=True, ge=0, le=policy.MAX_NUMBERS_PER_USER)]


class PolicyIn(InSchema):
    auto_purchase_numbers: bool | None = Field(default=None, strict=True)
    numbers_per_user: dict[SeatCode, Cap] | None = Field(
        default=None,
        max_length=50,
        description="Replaces the caps; {} or null removes them",
    )


@router.get("/license-policy", response=PolicyOut, auth=scope("licenses:read"))
def get_policy(request):
    """The partner's licence policy for numbers (`003_*.txt`)."""
    return policy.license_policy_get(actor=request.actor)


@router.put("/license-policy", response=PolicyOut, auth=scope("licenses:write"))
def put_policy(request, payload: PolicyIn):
    """Change the licence policy; a field left out keeps its value. The whole partner's:
    a key scoped to some tenants is refused (403)."""
    changes = payload.model_dump(exclude_unset=True)
    return policy.license_policy_set(actor=request.actor, changes=changes)


# --- mass configuration ---------------------------------------------------------------------


class MassConfigQuery(Schema):
    dry_run: bool = Field(default=False, description="check the file and apply nothing")


class MassConfigOut(Schema):
    applied: bool
    rows: int
    created: int = Field(description="users (extensions) the file creates")
    updated: int
    licenses_assigned: int
    licenses_removed: int


@router.get("/tenants/{tenant_id}/mass-configuration/sample.csv", auth=scope("licenses:read"))
def mass_config_sample(request, tenant_id: str):
    """A sample file: `Ext key`, `Number`, `User`, `Addon license 1`…"""
    _tenant(request, tenant_id)
    response = HttpResponse(mass_config.sample_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="mass-configuration-sample.csv"'
    return response


@router.post(
    "/tenants/{tenant_id}/mass-configuration",
    response=MassConfigOut,
    auth=scope("licenses:write"),
)
def mass_config_upload(
    request, tenant_id: str, file: File[UploadedFile], query: Query[MassConfigQuery]
):
    """Create and update users, their main numbers and add-on licences from a CSV file
    (multipart field `file`). The whole file is checked first; any problem answers 422
    `invalid_rows` with every one of them (`error.errors`: row, column, message) and
    nothing is applied. A good file is applied in one transaction."""
    tenant = _tenant(request, tenant_id)
    data = file.read(mass_config.MAX_BYTES + 1)  # the service refuses what is over
    if query.dry_run:
        return mass_config.mass_config_check(actor=request.actor, tenant=tenant, data=data)
    return mass_config.mass_config_apply(actor=request.actor, tenant=tenant, data=data)
