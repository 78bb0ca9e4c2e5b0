"""`/v1/tenants/{id}/sites`, `/v1/tenants/{id}/departments` and
`/v1/tenants/{id}/extensions`: a tenant's phone system (see pbx/services.py and
pbx/extensions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import NotFound
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.licensing.services import extension_licenses
from trunkline.pbx import devices, extensions, services
from trunkline.pbx.models import Department, Device, Extension, Site
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


def _owned(request, model, tenant_id: str, object_id: str, what: str):
    """One of the tenant's sites, departments or extensions; another tenant's is 404."""
    found = (
        model.objects.select_related("tenant__partner")
        .filter(tenant=_tenant(request, tenant_id), pk=object_id[:64])
        .first()
    )
    if found is None:
        raise NotFound(f"no such {what}", field=f"{what.replace(' ', '_')}_id")
    return found


def _changes(payload, nullable: tuple[str, ...] = ()) -> dict:
    """The fields the request sent; one sent as null is a change only when it is
    `nullable` (`parent_id: null` moves a department to the top), otherwise left alone."""
    sent = payload.model_dump(exclude_unset=True)
    return {k: v for k, v in sent.items() if v is not None or k in nullable}


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
    return services.site_json(_owned(request, Site, tenant_id, site_id, "site"))


@router.patch("/tenants/{tenant_id}/sites/{site_id}", response=SiteOut, auth=scope("tenants:write"))
def update_site(request, tenant_id: str, site_id: str, payload: SitePatch):
    site = services.site_update(
        actor=request.actor,
        site=_owned(request, Site, tenant_id, site_id, "site"),
        changes=_changes(payload),
    )
    return services.site_json(site)


@router.delete(
    "/tenants/{tenant_id}/sites/{site_id}", response={204: None}, auth=scope("tenants:write")
)
def delete_site(request, tenant_id: str, site_id: str):
    """Delete a site; the default site cannot be deleted."""
    services.site_delete(
        actor=request.actor, site=_owned(request, Site, tenant_id, site_id, "site")
    )
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
    return services.department_json(
        _owned(request, Department, tenant_id, department_id, "department")
    )


@router.patch(
    "/tenants/{tenant_id}/departments/{department_id}",
    response=DepartmentOut,
    auth=scope("tenants:write"),
)
def update_department(request, tenant_id: str, department_id: str, payload: DepartmentPatch):
    """Rename a department or move it (`parent_id`; null moves it to the top)."""
    department = services.department_update(
        actor=request.actor,
        department=_owned(request, Department, tenant_id, department_id, "department"),
        changes=_changes(payload, nullable=("parent_id",)),
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
        actor=request.actor,
        department=_owned(request, Department, tenant_id, department_id, "department"),
    )
    return Status(204, None)


# --- extensions ---------------------------------------------------------------------------------


class ExtensionOut(Schema):
    id: str
    tenant_id: str
    number: str = Field(description="2 to 6 digits, unique in the tenant", examples=["101"])
    name: str
    email: str | None
    main_number: str | None = Field(description="the user's main number (E.164), a tenant DID")
    additional_numbers: list[str] = Field(
        description="the tenant's numbers routed to the user besides its main number (E.164)"
    )
    site_id: str
    department_id: str | None
    license: str | None = Field(
        description="the user's seat licence (tenants billed by licence only)",
        examples=["seat_basic"],
    )
    addons: list[str] = Field(description="the user's add-on licences")
    created_at: datetime
    updated_at: datetime


class ExtensionIn(InSchema):
    number: str = Field(max_length=20)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=300)
    main_number: str | None = Field(default=None, max_length=20, examples=["+15015550123"])
    site_id: str | None = Field(
        default=None, max_length=64, description="default: the default site"
    )
    department_id: str | None = Field(default=None, max_length=64)
    license: str | None = Field(
        default=None,
        max_length=64,
        description="seat licence to take (licence-billed tenants); default: the cheapest free",
    )


class ExtensionPatch(InSchema):
    number: str | None = Field(default=None, max_length=20)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=300, description='"" removes it')
    main_number: str | None = Field(default=None, max_length=20, description="null removes it")
    site_id: str | None = Field(default=None, max_length=64, description="cannot change")
    department_id: str | None = Field(default=None, max_length=64, description="null: none")
    license: str | None = Field(default=None, max_length=64, description="change the seat")


class ExtensionQuery(Schema):
    site_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


@router.get(
    "/tenants/{tenant_id}/extensions",
    response=ListOut[ExtensionOut],
    auth=scope("extensions:read"),
)
def list_extensions(request, tenant_id: str, query: Query[ExtensionQuery]):
    """The tenant's extensions by number, optionally at one site or in one department."""
    found = Extension.objects.select_related("main_number").filter(
        tenant=_tenant(request, tenant_id)
    )
    if query.site_id:
        found = found.filter(site_id=query.site_id)
    if query.department_id:
        found = found.filter(department_id=query.department_id)
    page = paginate(found, limit=query.limit, cursor=query.cursor, sort_field="number")
    licenses = extension_licenses([e.id for e in page.items])
    additional = extensions.additional_numbers_of_many(page.items)
    return {
        "data": [
            extensions.extension_json(e, licenses.get(e.id, {}), additional.get(e.id, []))
            for e in page.items
        ],
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/tenants/{tenant_id}/extensions",
    response={201: ExtensionOut},
    auth=scope("extensions:write"),
)
def create_extension(request, tenant_id: str, payload: ExtensionIn):
    """A new extension. Refused (409) for a suspended or cancelled tenant, past the
    tenant's Max Extensions (`limit_exceeded`) or the plan's cap (`plan_limit`), and for
    a number that is taken (`extension_taken`)."""
    extension = extensions.extension_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        fields=payload.model_dump(exclude_unset=True),
    )
    return Status(201, extensions.extension_json(extension))


@router.get(
    "/tenants/{tenant_id}/extensions/{extension_id}",
    response=ExtensionOut,
    auth=scope("extensions:read"),
)
def get_extension(request, tenant_id: str, extension_id: str):
    return extensions.extension_json(
        _owned(request, Extension, tenant_id, extension_id, "extension")
    )


@router.patch(
    "/tenants/{tenant_id}/extensions/{extension_id}",
    response=ExtensionOut,
    auth=scope("extensions:write"),
)
def update_extension(request, tenant_id: str, extension_id: str, payload: ExtensionPatch):
    """Renumber, rename, or change the email or department; the site cannot change."""
    # A site_id sent at all is passed on, for the service to refuse.
    changes = _changes(payload, nullable=("department_id", "site_id", "main_number"))
    extension = extensions.extension_update(
        actor=request.actor,
        extension=_owned(request, Extension, tenant_id, extension_id, "extension"),
        changes=changes,
    )
    return extensions.extension_json(extension)


@router.delete(
    "/tenants/{tenant_id}/extensions/{extension_id}",
    response={204: None},
    auth=scope("extensions:write"),
)
def delete_extension(request, tenant_id: str, extension_id: str):
    extensions.extension_delete(
        actor=request.actor,
        extension=_owned(request, Extension, tenant_id, extension_id, "extension"),
    )
    return Status(204, None)


# --- devices ------------------------------------------------------------------------------------


class DeviceOut(Schema):
    id: str
    tenant_id: str
    extension_id: str
    kind: str = Field(examples=["desk_phone"])
    name: str | None
    mac: str | None = Field(description="12 hexadecimal digits, desk phones")
    sip_username: str = Field(description="namespaced by the tenant's SIP prefix")
    password_set_at: datetime
    created_at: datetime
    updated_at: datetime


class DeviceWithPassword(DeviceOut):
    sip_password: str = Field(description="shown this once; reset it if it is lost")


class DeviceIn(InSchema):
    kind: Literal["desk_phone", "softphone", "dect", "web_phone"]
    name: str | None = Field(default=None, max_length=200)
    mac: str | None = Field(default=None, max_length=40)


class DevicePatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    mac: str | None = Field(default=None, max_length=40)


def _device(request, tenant_id: str, device_id: str) -> Device:
    return _owned(request, Device, tenant_id, device_id, "device")


@router.get(
    "/tenants/{tenant_id}/extensions/{extension_id}/devices",
    response=ListOut[DeviceOut],
    auth=scope("extensions:read"),
)
def list_devices(request, tenant_id: str, extension_id: str):
    extension = _owned(request, Extension, tenant_id, extension_id, "extension")
    found = Device.objects.filter(extension=extension)
    return {"data": [devices.device_json(d) for d in found], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/extensions/{extension_id}/devices",
    response={201: DeviceWithPassword},
    auth=scope("extensions:write"),
)
def create_device(request, tenant_id: str, extension_id: str, payload: DeviceIn):
    """A new device with SIP credentials; the password is in this response only. On a
    licence-billed tenant, past the seat's device quota is 409 `license_required`."""
    device, password = devices.device_create(
        actor=request.actor,
        extension=_owned(request, Extension, tenant_id, extension_id, "extension"),
        fields=payload.model_dump(exclude_unset=True),
    )
    return Status(201, {**devices.device_json(device), "sip_password": password})


@router.get(
    "/tenants/{tenant_id}/devices/{device_id}", response=DeviceOut, auth=scope("extensions:read")
)
def get_device(request, tenant_id: str, device_id: str):
    return devices.device_json(_device(request, tenant_id, device_id))


@router.patch(
    "/tenants/{tenant_id}/devices/{device_id}", response=DeviceOut, auth=scope("extensions:write")
)
def update_device(request, tenant_id: str, device_id: str, payload: DevicePatch):
    device = devices.device_update(
        actor=request.actor,
        device=_device(request, tenant_id, device_id),
        changes=_changes(payload, nullable=("mac", "name")),
    )
    return devices.device_json(device)


@router.post(
    "/tenants/{tenant_id}/devices/{device_id}/reset-password",
    response=DeviceWithPassword,
    auth=scope("extensions:write"),
)
def reset_device_password(request, tenant_id: str, device_id: str):
    """A new SIP password, shown in this response only."""
    device, password = devices.device_password_reset(
        actor=request.actor, device=_device(request, tenant_id, device_id)
    )
    return {**devices.device_json(device), "sip_password": password}


@router.delete(
    "/tenants/{tenant_id}/devices/{device_id}",
    response={204: None},
    auth=scope("extensions:write"),
)
def delete_device(request, tenant_id: str, device_id: str):
    devices.device_delete(actor=request.actor, device=_device(request, tenant_id, device_id))
    return Status(204, None)
