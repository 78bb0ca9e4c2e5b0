"""`/v1/tenants/{id}/sites` and `/v1/tenants/{id}/departments`: the structure of a
tenant's phone system (see pbx/services.py)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import NotFound
from trunkline.core.schemas import InSchema, ListOut
from trunkline.pbx import services
from trunkline.pbx.models import Department, Site
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Sites and departments"])


class SiteOut(Schema):
    id: str
    tenant_id: str
    name: str
    timezone: str = Field(description="IANA time zone of the site's schedules")
    is_default: bool = Field(description="the site used when a request names none")
    created_at: datetime
    updated_at: datetime


class SiteIn(InSchema):
    name: str = Field(max_length=200)
    timezone: str | None = Field(default=None, max_length=64, description="default: the tenant's")


class SitePatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    is_default: bool | None = Field(default=None, description="true makes this the default")


class DepartmentOut(Schema):
    id: str
    tenant_id: str
    name: str
    parent_id: str | None = Field(description="the department it sits under; null at the top")
    created_at: datetime
    updated_at: datetime


class DepartmentIn(InSchema):
    name: str = Field(max_length=200)
    parent_id: str | None = Field(default=None, max_length=64)


class DepartmentPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    parent_id: str | None = Field(default=None, max_length=64, description="null: to the top")


def _tenant(request, tenant_id: str):
    return tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])


def _site(request, tenant_id: str, site_id: str) -> Site:
    tenant = _tenant(request, tenant_id)
    site = Site.objects.select_related("tenant__partner").filter(tenant=tenant, pk=site_id[:64])
    found = site.first()
    if found is None:
        raise NotFound("no such site", field="site_id")
    return found


def _department(request, tenant_id: str, department_id: str) -> Department:
    tenant = _tenant(request, tenant_id)
    found = (
        Department.objects.select_related("tenant__partner")
        .filter(tenant=tenant, pk=department_id[:64])
        .first()
    )
    if found is None:
        raise NotFound("no such department", field="department_id")
    return found


def _changes(payload) -> dict:
    """The fields the request sent (`parent_id: null` is a change; others sent as null
    are left alone)."""
    sent = payload.model_dump(exclude_unset=True)
    return {k: v for k, v in sent.items() if v is not None or k == "parent_id"}


@router.get("/tenants/{tenant_id}/sites", response=ListOut[SiteOut], auth=scope("tenants:read"))
def list_sites(request, tenant_id: str):
    """The tenant's sites, the default first."""
    tenant = _tenant(request, tenant_id)
    sites = Site.objects.filter(tenant=tenant).order_by("-is_default", "created_at", "id")
    return {"data": [services.site_json(site) for site in sites], "next_cursor": None}


@router.post("/tenants/{tenant_id}/sites", response={201: SiteOut}, auth=scope("tenants:write"))
def create_site(request, tenant_id: str, payload: SiteIn):
    site = services.site_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        name=payload.name,
        timezone_name=payload.timezone,
    )
    return Status(201, services.site_json(site))


@router.get("/tenants/{tenant_id}/sites/{site_id}", response=SiteOut, auth=scope("tenants:read"))
def get_site(request, tenant_id: str, site_id: str):
    return services.site_json(_site(request, tenant_id, site_id))


@router.patch("/tenants/{tenant_id}/sites/{site_id}", response=SiteOut, auth=scope("tenants:write"))
def update_site(request, tenant_id: str, site_id: str, payload: SitePatch):
    site = services.site_update(
        actor=request.actor, site=_site(request, tenant_id, site_id), changes=_changes(payload)
    )
    return services.site_json(site)


@router.delete(
    "/tenants/{tenant_id}/sites/{site_id}", response={204: None}, auth=scope("tenants:write")
)
def delete_site(request, tenant_id: str, site_id: str):
    """Delete a site; the default site cannot be deleted."""
    services.site_delete(actor=request.actor, site=_site(request, tenant_id, site_id))
    return Status(204, None)


@router.get(
    "/tenants/{tenant_id}/departments",
    response=ListOut[DepartmentOut],
    auth=scope("tenants:read"),
)
def list_departments(request, tenant_id: str):
    """Every department of the tenant, by name; `parent_id` gives the tree."""
    tenant = _tenant(request, tenant_id)
    departments = Department.objects.filter(tenant=tenant)
    return {"data": [services.department_json(d) for d in departments], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/departments",
    response={201: DepartmentOut},
    auth=scope("tenants:write"),
)
def create_department(request, tenant_id: str, payload: DepartmentIn):
    department = services.department_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        name=payload.name,
        parent_id=payload.parent_id,
    )
    return Status(201, services.department_json(department))


@router.get(
    "/tenants/{tenant_id}/departments/{department_id}",
    response=DepartmentOut,
    auth=scope("tenants:read"),
)
def get_department(request, tenant_id: str, department_id: str):
    return services.department_json(_department(request, tenant_id, department_id))


@router.patch(
    "/tenants/{tenant_id}/departments/{department_id}",
    response=DepartmentOut,
    auth=scope("tenants:write"),
)
def update_department(request, tenant_id: str, department_id: str, payload: DepartmentPatch):
    """Rename a department or move it (`parent_id`; null moves it to the top)."""
    department = services.department_update(
        actor=request.actor,
        department=_department(request, tenant_id, department_id),
        changes=_changes(payload),
    )
    return services.department_json(department)


@router.delete(
    "/tenants/{tenant_id}/departments/{department_id}",
    response={204: None},
    auth=scope("tenants:write"),
)
def delete_department(request, tenant_id: str, department_id: str):
    """Delete a department without sub-departments."""
    services.department_delete(
        actor=request.actor, department=_department(request, tenant_id, department_id)
    )
    return Status(204, None)
