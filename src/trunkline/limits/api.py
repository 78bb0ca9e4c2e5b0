"""`/v1/tenants/{id}/limits`, `/v1/tenants/{id}/usage` and `/v1/tenant-defaults/limits`."""

from __future__ import annotations

from datetime import date

from ninja import Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.schemas import InSchema
from trunkline.limits import services
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Usage limits"])


class LimitsIn(InSchema):
    monthly_spend_limit: str | None = Field(
        default=None, max_length=30, description="dollars; null: no limit"
    )
    max_extensions: int | None = Field(default=None, description="null: no limit")
    max_dids: int | None = Field(default=None, description="null: no limit")
    max_monthly_minutes: int | None = Field(default=None, description="null: no limit")
    alert_threshold_percent: int | None = Field(default=None, description="1 to 100")
    auto_suspend: bool | None = None


class LimitsOut(Schema):
    monthly_spend_limit: str | None
    max_extensions: int | None
    max_dids: int | None
    max_monthly_minutes: int | None
    alert_threshold_percent: int
    auto_suspend: bool


class MinutesOut(Schema):
    local: float
    toll_free: float
    international: float
    total: float


class UsageOut(Schema):
    cycle_start: date
    cycle_end: date = Field(description="the first day of the next cycle")
    minutes: MinutesOut
    spend: str = Field(description="the cycle's calls at the partner's wholesale rates")
    calls: int
    extensions: int
    dids: int


def _changes(payload: LimitsIn) -> dict:
    changes = payload.model_dump(exclude_unset=True)
    for field in ("alert_threshold_percent", "auto_suspend"):
        if field in changes and changes[field] is None:
            changes.pop(field)
    return changes


@router.get("/tenants/{tenant_id}/limits", response=LimitsOut, auth=scope("tenants:read"))
def get_limits(request, tenant_id: str):
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    return services.limits_of(tenant)


@router.put("/tenants/{tenant_id}/limits", response=LimitsOut, auth=scope("tenants:write"))
def put_limits(request, tenant_id: str, payload: LimitsIn):
    """Set the tenant's limits; a field sent as null removes that limit, a field left out
    keeps its value. Effective at once; not applied to usage already counted."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    tenant = services.tenant_limits_set(
        actor=request.actor, tenant=tenant, changes=_changes(payload)
    )
    return services.limits_of(tenant)


@router.post("/tenants/{tenant_id}/limits/reset", response=LimitsOut, auth=scope("tenants:write"))
def reset_limits(request, tenant_id: str):
    """Reset to Defaults: the limits of Tenant Defaults."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    return services.limits_of(services.tenant_limits_reset(actor=request.actor, tenant=tenant))


@router.get("/tenants/{tenant_id}/usage", response=UsageOut, auth=scope("tenants:read"))
def get_usage(request, tenant_id: str):
    """The tenant's current usage cycle (the calendar month in its time zone)."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    return services.tenant_usage(tenant)


@router.get("/tenant-defaults/limits", response=LimitsOut, auth=scope("tenants:read"))
def get_default_limits(request):
    return services.defaults_of(request.actor.partner)


@router.put("/tenant-defaults/limits", response=LimitsOut, auth=scope("tenants:write"))
def put_default_limits(request, payload: LimitsIn):
    """The limits tenants created from now on start with."""
    partner = services.partner_default_limits_set(actor=request.actor, changes=_changes(payload))
    return services.defaults_of(partner)
