from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from trunkline.core.responses import api_datetime
from trunkline.core.schemas import InSchema

Status = Literal["TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED"]


class E911AddressIn(InSchema):
    street: str = Field(min_length=1, max_length=200)
    street2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(min_length=2, max_length=2)
    postal_code: str = Field(min_length=5, max_length=10)
    country: str = Field(default="US", min_length=2, max_length=2)


class E911AddressOut(Schema):
    street: str
    street2: str | None
    city: str
    state: str
    postal_code: str
    country: str


class TenantIn(InSchema):
    name: str = Field(min_length=1, max_length=120)
    sip_prefix: str | None = Field(default=None, max_length=12)
    billing_email: str = Field(max_length=254)
    default_cnam: str | None = Field(default=None, max_length=15)
    timezone: str | None = Field(default=None, max_length=64)
    status: Literal["TRIAL", "ACTIVE", "SUSPENDED"] = "TRIAL"
    e911_address: E911AddressIn | None = None
    billing_profile_id: str | None = Field(
        default=None, max_length=64, description="default: the partner's default profile"
    )


class TenantPatch(InSchema):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    sip_prefix: str | None = Field(default=None, max_length=64)
    billing_email: str | None = Field(default=None, max_length=254)
    default_cnam: str | None = Field(default=None, max_length=15)
    timezone: str | None = Field(default=None, max_length=64)
    status: Status | None = None
    e911_address: E911AddressIn | None = None


class SuspendIn(InSchema):
    reason: str = Field(default="", max_length=200)


class TenantCounts(Schema):
    users: int


class TenantOut(Schema):
    id: str
    partner_id: str
    name: str
    sip_prefix: str
    billing_email: str
    default_cnam: str | None
    timezone: str
    status: Status
    suspension_reason: str | None
    e911_address: E911AddressOut | None
    counts: TenantCounts
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    purge_after: datetime | None

    @staticmethod
    def resolve_default_cnam(tenant) -> str | None:
        return tenant.default_cnam or None

    @staticmethod
    def resolve_suspension_reason(tenant) -> str | None:
        return tenant.suspension_reason or None

    @staticmethod
    def resolve_counts(tenant) -> dict:
        users = getattr(tenant, "users_count", None)
        if users is None:
            users = tenant.users.count()
        return {"users": users}


class TenantDefaultsIn(InSchema):
    default_timezone: str | None = Field(default=None, max_length=64)
    default_cnam: str | None = Field(default=None, max_length=15)
    default_suspension_behavior: Literal["suspend", "alert_only"] | None = None


class TenantDefaultsOut(Schema):
    default_timezone: str
    default_cnam: str | None
    default_suspension_behavior: str

    @staticmethod
    def resolve_default_cnam(partner) -> str | None:
        return partner.default_cnam or None


def tenant_out_from_row(row: tuple) -> dict:
    """`TenantOut` as JSON types, in field order, from a row of `selectors.tenant_list_page`
    (its LIST_COLUMNS, then users_count)."""
    (
        tenant_id,
        partner_id,
        name,
        sip_prefix,
        billing_email,
        default_cnam,
        timezone,
        status,
        suspension_reason,
        street,
        street2,
        city,
        state,
        postal_code,
        country,
        created_at,
        updated_at,
        cancelled_at,
        purge_after,
        users_count,
    ) = row
    return {
        "id": tenant_id,
        "partner_id": partner_id,
        "name": name,
        "sip_prefix": sip_prefix,
        "billing_email": billing_email,
        "default_cnam": default_cnam or None,
        "timezone": timezone,
        "status": status,
        "suspension_reason": suspension_reason or None,
        "e911_address": {
            "street": street,
            "street2": street2 or None,
            "city": city,
            "state": state,
            "postal_code": postal_code,
            "country": country or "US",
        }
        if street
        else None,
        "counts": {"users": users_count},
        "created_at": api_datetime(created_at),
        "updated_at": api_datetime(updated_at),
        "cancelled_at": api_datetime(cancelled_at),
        "purge_after": api_datetime(purge_after),
    }
