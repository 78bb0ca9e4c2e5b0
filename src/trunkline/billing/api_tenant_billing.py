"""`/v1/billing-profiles`, `/v1/tax-jurisdictions` and `/v1/tenants/{id}/billing`: how a
partner charges its tenants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.billing import profiles, tax
from trunkline.core.errors import ValidationFailed
from trunkline.core.money import Money
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Tenant billing"])

MoneyText = str | None


class PageQuery(Schema):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class ProfileIn(InSchema):
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    pricing_model: Literal["PAYG", "FLAT_RATE", "LICENSE"]
    base_fee: str = Field(default="0", max_length=30)
    extension_monthly: str = Field(default="0", max_length=30)
    did_monthly: str = Field(default="0", max_length=30)
    toll_free_did_monthly: str = Field(default="0", max_length=30)
    per_minute: str = Field(default="0", max_length=30)
    per_minute_local: str | None = Field(default=None, max_length=30)
    per_minute_toll_free: str | None = Field(default=None, max_length=30)
    included_extensions: int = 0
    included_dids: int = 0
    included_minutes: int | None = 0
    expires_after_days: int | None = None
    converts_to_id: str | None = Field(default=None, max_length=64)
    suspension_after_days: int | None = None
    is_default: bool = False


class ProfilePatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    pricing_model: Literal["PAYG", "FLAT_RATE", "LICENSE"] | None = None
    base_fee: str | None = Field(default=None, max_length=30)
    extension_monthly: str | None = Field(default=None, max_length=30)
    did_monthly: str | None = Field(default=None, max_length=30)
    toll_free_did_monthly: str | None = Field(default=None, max_length=30)
    per_minute: str | None = Field(default=None, max_length=30)
    per_minute_local: str | None = Field(default=None, max_length=30)
    per_minute_toll_free: str | None = Field(default=None, max_length=30)
    included_extensions: int | None = None
    included_dids: int | None = None
    included_minutes: int | None = None
    expires_after_days: int | None = None
    converts_to_id: str | None = Field(default=None, max_length=64)
    suspension_after_days: int | None = None
    is_default: bool | None = None


class ProfileOut(Schema):
    id: str
    name: str
    description: str
    pricing_model: str
    base_fee: str
    extension_monthly: str
    did_monthly: str
    toll_free_did_monthly: str
    per_minute: str
    per_minute_local: MoneyText
    per_minute_toll_free: MoneyText
    included_extensions: int
    included_dids: int
    included_minutes: int | None = Field(description="null: every minute is included")
    expires_after_days: int | None
    converts_to_id: str | None
    suspension_after_days: int | None = Field(
        description="null: the partner's Default Suspension After"
    )
    is_default: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def _money(micros):
        return None if micros is None else Money(micros).to_json()

    @staticmethod
    def resolve_base_fee(obj):
        return Money(obj.base_fee_micros).to_json()

    @staticmethod
    def resolve_extension_monthly(obj):
        return Money(obj.extension_monthly_micros).to_json()

    @staticmethod
    def resolve_did_monthly(obj):
        return Money(obj.did_monthly_micros).to_json()

    @staticmethod
    def resolve_toll_free_did_monthly(obj):
        return Money(obj.toll_free_did_monthly_micros).to_json()

    @staticmethod
    def resolve_per_minute(obj):
        return Money(obj.per_minute_micros).to_json()

    @staticmethod
    def resolve_per_minute_local(obj):
        return ProfileOut._money(obj.per_minute_local_micros)

    @staticmethod
    def resolve_per_minute_toll_free(obj):
        return ProfileOut._money(obj.per_minute_toll_free_micros)


class JurisdictionIn(InSchema):
    name: str = Field(max_length=200)
    code: str = Field(max_length=60)
    rate: str = Field(max_length=30, description="a fraction: 0.085 is 8.5 %")
    enabled: bool = True


class JurisdictionPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=60)
    rate: str | None = Field(default=None, max_length=30)
    enabled: bool | None = None


class JurisdictionOut(Schema):
    id: str
    name: str
    code: str
    rate: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_rate(obj):
        return format(obj.rate.normalize(), "f")


class TenantBillingIn(InSchema):
    billing_profile_id: str | None = Field(default=None, max_length=64)
    tax_jurisdiction_id: str | None = Field(default=None, max_length=64)


class TenantBillingOut(Schema):
    tenant_id: str
    billing_profile_id: str | None
    billing_profile_since: datetime | None
    billing_profile_expires_at: datetime | None
    pending_billing_profile_id: str | None = Field(
        description="the profile the tenant moves to when its next cycle starts"
    )
    pending_billing_profile_from: date | None
    tax_jurisdiction_id: str | None
    credit: str = Field(description="account credit from refunds, taken off the next invoices")
    cycle_start: date
    cycle_end: date = Field(description="the day after the cycle's last day")


class BillingSettingsIn(InSchema):
    suspension_after_days: int = Field(description="1 to 365")


class BillingSettingsOut(Schema):
    suspension_after_days: int = Field(
        description="days an invoice may be unpaid past its due date before its tenant is "
        "suspended, for profiles that do not set their own"
    )


def _not_null(changes: dict, *fields: str) -> None:
    for field in fields:
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null", field=field)


# --- billing profiles ---------------------------------------------------------------------


@router.get("/billing-profiles", response=ListOut[ProfileOut], auth=scope("billing:read"))
def list_profiles(request, query: Query[PageQuery]):
    page = paginate(
        profiles.billing_profile_list(actor=request.actor),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="created_at",
        descending=False,
    )
    return {"data": page.items, "next_cursor": page.next_cursor}


@router.post("/billing-profiles", response={201: ProfileOut}, auth=scope("billing:write"))
def create_profile(request, payload: ProfileIn):
    profile = profiles.billing_profile_create(actor=request.actor, **payload.model_dump())
    return Status(201, profile)


@router.get("/billing-profiles/{profile_id}", response=ProfileOut, auth=scope("billing:read"))
def get_profile(request, profile_id: str):
    return profiles.billing_profile_get(actor=request.actor, profile_id=profile_id)


@router.patch("/billing-profiles/{profile_id}", response=ProfileOut, auth=scope("billing:write"))
def update_profile(request, profile_id: str, payload: ProfilePatch):
    """Edit a profile. The new figures bill from now on; existing invoices keep theirs."""
    profile = profiles.billing_profile_get(actor=request.actor, profile_id=profile_id)
    changes = payload.model_dump(exclude_unset=True)
    _not_null(
        changes,
        "name",
        "pricing_model",
        "base_fee",
        "extension_monthly",
        "did_monthly",
        "toll_free_did_monthly",
        "per_minute",
        "included_extensions",
        "included_dids",
        "is_default",
    )
    return profiles.billing_profile_update(actor=request.actor, profile=profile, changes=changes)


@router.delete("/billing-profiles/{profile_id}", response={204: None}, auth=scope("billing:write"))
def delete_profile(request, profile_id: str):
    """Delete a profile no tenant is on (or moving to) and no profile converts to."""
    profile = profiles.billing_profile_get(actor=request.actor, profile_id=profile_id)
    profiles.billing_profile_delete(actor=request.actor, profile=profile)
    return Status(204, None)


@router.get("/billing-settings", response=BillingSettingsOut, auth=scope("billing:read"))
def get_billing_settings(request):
    return {"suspension_after_days": request.actor.partner.suspension_after_days}


@router.put("/billing-settings", response=BillingSettingsOut, auth=scope("billing:write"))
def put_billing_settings(request, payload: BillingSettingsIn):
    """Default Suspension After (days)."""
    partner = profiles.partner_suspension_after_days_set(
        actor=request.actor, days=payload.suspension_after_days
    )
    return {"suspension_after_days": partner.suspension_after_days}


# --- tax jurisdictions --------------------------------------------------------------------


@router.get("/tax-jurisdictions", response=ListOut[JurisdictionOut], auth=scope("billing:read"))
def list_jurisdictions(request, query: Query[PageQuery]):
    page = paginate(
        tax.tax_jurisdiction_list(actor=request.actor),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="created_at",
        descending=False,
    )
    return {"data": page.items, "next_cursor": page.next_cursor}


@router.post("/tax-jurisdictions", response={201: JurisdictionOut}, auth=scope("billing:write"))
def create_jurisdiction(request, payload: JurisdictionIn):
    jurisdiction = tax.tax_jurisdiction_create(actor=request.actor, **payload.model_dump())
    return Status(201, jurisdiction)


@router.get(
    "/tax-jurisdictions/{jurisdiction_id}",
    response=JurisdictionOut,
    auth=scope("billing:read"),
)
def get_jurisdiction(request, jurisdiction_id: str):
    return tax.tax_jurisdiction_get(actor=request.actor, jurisdiction_id=jurisdiction_id)


@router.patch(
    "/tax-jurisdictions/{jurisdiction_id}",
    response=JurisdictionOut,
    auth=scope("billing:write"),
)
def update_jurisdiction(request, jurisdiction_id: str, payload: JurisdictionPatch):
    """Edit or enable/disable a jurisdiction; only invoices made afterwards change."""
    jurisdiction = tax.tax_jurisdiction_get(actor=request.actor, jurisdiction_id=jurisdiction_id)
    changes = payload.model_dump(exclude_unset=True)
    _not_null(changes, "name", "code", "rate", "enabled")
    return tax.tax_jurisdiction_update(
        actor=request.actor, jurisdiction=jurisdiction, changes=changes
    )


@router.delete(
    "/tax-jurisdictions/{jurisdiction_id}",
    response={204: None},
    auth=scope("billing:write"),
)
def delete_jurisdiction(request, jurisdiction_id: str):
    jurisdiction = tax.tax_jurisdiction_get(actor=request.actor, jurisdiction_id=jurisdiction_id)
    tax.tax_jurisdiction_delete(actor=request.actor, jurisdiction=jurisdiction)
    return Status(204, None)


# --- a tenant's billing -------------------------------------------------------------------


def _tenant_billing(tenant) -> dict:
    cycle = profiles.billing_cycle(tenant, timezone.now())
    return {
        "tenant_id": tenant.id,
        "billing_profile_id": tenant.billing_profile_id,
        "billing_profile_since": tenant.billing_profile_since,
        "billing_profile_expires_at": tenant.billing_profile_expires_at,
        "pending_billing_profile_id": tenant.pending_billing_profile_id,
        "pending_billing_profile_from": tenant.pending_billing_profile_from,
        "tax_jurisdiction_id": tenant.tax_jurisdiction_id,
        "credit": Money(tenant.credit_micros).to_json(),
        "cycle_start": cycle.start,
        "cycle_end": cycle.end,
    }


def _tenant(request, tenant_id: str):
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id)
    return type(tenant).objects.select_related("billing_profile").get(pk=tenant.pk)


@router.get("/tenants/{tenant_id}/billing", response=TenantBillingOut, auth=scope("tenants:read"))
def get_tenant_billing(request, tenant_id: str):
    """The tenant's billing profile (and the one it moves to next cycle), tax
    jurisdiction and current billing cycle."""
    return _tenant_billing(_tenant(request, tenant_id))


@router.put("/tenants/{tenant_id}/billing", response=TenantBillingOut, auth=scope("tenants:write"))
def put_tenant_billing(request, tenant_id: str, payload: TenantBillingIn):
    """Choose the tenant's billing profile — from the start of its next cycle — and its
    tax jurisdiction (null: none). Fields left out are left as they are."""
    tenant = _tenant(request, tenant_id)
    profiles.tenant_billing_set(
        actor=request.actor, tenant=tenant, changes=payload.model_dump(exclude_unset=True)
    )
    return _tenant_billing(_tenant(request, tenant_id))
