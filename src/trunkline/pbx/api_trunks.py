"""`/v1/tenants/{id}/trunks`: SIP trunks to customers' on-prem PBXs (see pbx/trunks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.pbx import trunks
from trunkline.pbx.api import _changes, _owned, _tenant
from trunkline.pbx.models import SipTrunk

router = Router(tags=["SIP trunks"])

AuthMode = Literal["registration", "ip"]


class TrunkOut(Schema):
    id: str
    tenant_id: str
    site_id: str = Field(description="the site it belongs to, for good")
    name: str
    auth_mode: AuthMode
    sip_username: str | None = Field(description="registration: the PBX's username")
    registrar: str | None = Field(description="registration: the host the PBX registers with")
    password_set_at: datetime | None = Field(
        description="registration: the password is never shown"
    )
    allowed_ips: list[str] = Field(description="ip: the addresses and networks the PBX sends from")
    max_channels: int = Field(description="simultaneous calls the trunk carries at most")
    numbers: list[str] = Field(description="the tenant's numbers routed to the trunk (E.164)")
    created_at: datetime
    updated_at: datetime


class TrunkWithPassword(TrunkOut):
    sip_password: str | None = Field(
        description="registration: the password, when this call set it (shown this once)"
    )


class TrunkIn(InSchema):
    name: str = Field(max_length=200)
    site_id: str | None = Field(default=None, max_length=64, description="default: the default")
    auth_mode: AuthMode
    allowed_ips: list[str] | None = Field(
        default=None,
        max_length=trunks.MAX_ADDRESSES,
        description="ip: IPv4/IPv6 addresses or networks (CIDR)",
        examples=[["203.0.113.10", "2001:db8:10::/48"]],
    )
    max_channels: int | None = Field(default=None, description="1 to 1000; default 10")


class TrunkPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    site_id: str | None = Field(default=None, max_length=64, description="cannot change")
    auth_mode: AuthMode | None = None
    allowed_ips: list[str] | None = Field(default=None, max_length=trunks.MAX_ADDRESSES)
    max_channels: int | None = None


class TrunkQuery(Schema):
    site_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


def _trunk(request, tenant_id: str, trunk_id: str) -> SipTrunk:
    return _owned(request, SipTrunk, tenant_id, trunk_id, "trunk")


@router.get(
    "/tenants/{tenant_id}/trunks", response=ListOut[TrunkOut], auth=scope("extensions:read")
)
def list_trunks(request, tenant_id: str, query: Query[TrunkQuery]):
    """The tenant's trunks by name, optionally at one site."""
    found = SipTrunk.objects.filter(tenant=_tenant(request, tenant_id))
    if query.site_id:
        found = found.filter(site_id=query.site_id)
    page = paginate(found, limit=query.limit, cursor=query.cursor, sort_field="name")
    return {"data": [trunks.trunk_json(t) for t in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/tenants/{tenant_id}/trunks", response={201: TrunkWithPassword}, auth=scope("extensions:write")
)
def create_trunk(request, tenant_id: str, payload: TrunkIn):
    """A new trunk at a site. A registering trunk's password is in this response only.
    No licence is needed to make one: trunking licences count concurrent calls, checked
    when a call is set up."""
    fields = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    trunk, password = trunks.trunk_create(
        actor=request.actor, tenant=_tenant(request, tenant_id), fields=fields
    )
    return Status(201, {**trunks.trunk_json(trunk), "sip_password": password})


@router.get(
    "/tenants/{tenant_id}/trunks/{trunk_id}", response=TrunkOut, auth=scope("extensions:read")
)
def get_trunk(request, tenant_id: str, trunk_id: str):
    return trunks.trunk_json(_trunk(request, tenant_id, trunk_id))


@router.patch(
    "/tenants/{tenant_id}/trunks/{trunk_id}",
    response=TrunkWithPassword,
    auth=scope("extensions:write"),
)
def update_trunk(request, tenant_id: str, trunk_id: str, payload: TrunkPatch):
    """Rename, change channels or addresses, or switch the way the PBX authenticates; a
    switch to registration issues credentials, the password in this response only. The
    site cannot change."""
    trunk, password = trunks.trunk_update(
        actor=request.actor,
        trunk=_trunk(request, tenant_id, trunk_id),
        changes=_changes(payload, nullable=("site_id",)),
    )
    return {**trunks.trunk_json(trunk), "sip_password": password}


@router.post(
    "/tenants/{tenant_id}/trunks/{trunk_id}/reset-password",
    response=TrunkWithPassword,
    auth=scope("extensions:write"),
)
def reset_trunk_password(request, tenant_id: str, trunk_id: str):
    """A new SIP password for a registering trunk, shown in this response only."""
    trunk, password = trunks.trunk_password_reset(
        actor=request.actor, trunk=_trunk(request, tenant_id, trunk_id)
    )
    return {**trunks.trunk_json(trunk), "sip_password": password}


@router.delete(
    "/tenants/{tenant_id}/trunks/{trunk_id}", response={204: None}, auth=scope("extensions:write")
)
def delete_trunk(request, tenant_id: str, trunk_id: str):
    """Delete a trunk; refused (409 `in_use`, with `error.referrers`) while numbers route
    to it."""
    trunks.trunk_delete(actor=request.actor, trunk=_trunk(request, tenant_id, trunk_id))
    return Status(204, None)
