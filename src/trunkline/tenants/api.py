"""`/v1/tenants`: create, list, read, edit, suspend, unsuspend, delete, reactivate."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.pagination import paginate
from trunkline.core.responses import json_response
from trunkline.core.schemas import ListOut
from trunkline.tenants import selectors, services
from trunkline.tenants.schemas import (
    SuspendIn,
    TenantDefaultsIn,
    TenantDefaultsOut,
    TenantIn,
    TenantOut,
    TenantPatch,
    tenant_out_from_row,
)

router = Router(tags=["Tenants"])

SortKey = Literal[
    "name",
    "-name",
    "created_at",
    "-created_at",
    "status",
    "-status",
    "sip_prefix",
    "-sip_prefix",
    "users_count",
    "-users_count",
]


class TenantListQuery(Schema):
    search: str | None = Field(default=None, max_length=200)
    status: Literal["TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED"] | None = None
    sort: SortKey = "-created_at"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


def _reload(request, tenant_id: str):
    return selectors.tenant_list(actor=request.actor).get(id=tenant_id)


@router.post("/tenants", response={201: TenantOut}, auth=scope("tenants:write"))
def create_tenant(request, payload: TenantIn):
    tenant = services.tenant_create(
        actor=request.actor,
        name=payload.name,
        billing_email=payload.billing_email,
        timezone_name=payload.timezone,
        sip_prefix=payload.sip_prefix,
        default_cnam=payload.default_cnam,
        status=payload.status,
        e911_address=payload.e911_address.model_dump() if payload.e911_address else None,
        billing_profile_id=payload.billing_profile_id,
    )
    return Status(201, _reload(request, tenant.id))


@router.get("/tenants", response=ListOut[TenantOut], auth=scope("tenants:read"))
def list_tenants(request, query: Query[TenantListQuery]):
    if query.search is None and request.actor.partner is not None:
        # The busiest read of the API: rows straight to JSON, no model instances and no
        # second validation of our own output (tests hold it equal to TenantOut's).
        page = selectors.tenant_list_page(
            actor=request.actor,
            status=query.status,
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
        )
        data = [tenant_out_from_row(row) for row in page.rows]
        return json_response({"data": data, "next_cursor": page.next_cursor})
    queryset = selectors.tenant_list(actor=request.actor, search=query.search, status=query.status)
    page = paginate(
        queryset,
        limit=query.limit,
        cursor=query.cursor,
        sort_field=query.sort.lstrip("-"),
        descending=query.sort.startswith("-"),
    )
    return {"data": page.items, "next_cursor": page.next_cursor}


@router.get("/tenant-defaults", response=TenantDefaultsOut, auth=scope("tenants:read"))
def get_tenant_defaults(request):
    return request.actor.partner


@router.put("/tenant-defaults", response=TenantDefaultsOut, auth=scope("tenants:write"))
def put_tenant_defaults(request, payload: TenantDefaultsIn):
    changes = payload.model_dump(exclude_unset=True)
    if "default_cnam" in changes and changes["default_cnam"] is None:
        changes["default_cnam"] = ""
    return services.tenant_defaults_update(actor=request.actor, changes=changes)


@router.get("/tenants/{tenant_id}", response=TenantOut, auth=scope("tenants:read"))
def get_tenant(request, tenant_id: str):
    selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    return _reload(request, tenant_id)


@router.patch("/tenants/{tenant_id}", response=TenantOut, auth=scope("tenants:write"))
def update_tenant(request, tenant_id: str, payload: TenantPatch):
    tenant = selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    changes = payload.model_dump(exclude_unset=True)
    services.tenant_update(actor=request.actor, tenant=tenant, changes=changes)
    return _reload(request, tenant_id)


@router.delete("/tenants/{tenant_id}", response=TenantOut, auth=scope("tenants:write"))
def delete_tenant(request, tenant_id: str):
    tenant = selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    services.tenant_delete(actor=request.actor, tenant=tenant)
    return _reload(request, tenant_id)


@router.post("/tenants/{tenant_id}/suspend", response=TenantOut, auth=scope("tenants:write"))
def suspend_tenant(request, tenant_id: str, payload: SuspendIn | None = None):
    tenant = selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    services.tenant_suspend(
        actor=request.actor, tenant=tenant, reason=payload.reason if payload else ""
    )
    return _reload(request, tenant_id)


@router.post("/tenants/{tenant_id}/unsuspend", response=TenantOut, auth=scope("tenants:write"))
def unsuspend_tenant(request, tenant_id: str):
    tenant = selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    services.tenant_unsuspend(actor=request.actor, tenant=tenant)
    return _reload(request, tenant_id)


@router.post("/tenants/{tenant_id}/reactivate", response=TenantOut, auth=scope("tenants:write"))
def reactivate_tenant(request, tenant_id: str):
    tenant = selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    services.tenant_reactivate(actor=request.actor, tenant=tenant)
    return _reload(request, tenant_id)
