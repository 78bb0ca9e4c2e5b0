"""`/v1/tenant-billing` and `/v1/tenants/{id}/payment-methods`: how a partner collects its
tenants' invoices by card (see billing/collection.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.accounts.views.common import public_base_url
from trunkline.billing import collection
from trunkline.core.schemas import InSchema, ListOut
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Tenant billing"])


class ConnectOut(Schema):
    account_id: str | None = Field(description="the connected account, `acct_…`")
    status: Literal["none", "pending", "active", "restricted"]
    requirements_due: list[str] = Field(description="what the processor still asks for")
    checked_at: datetime | None


class CustomKeysOut(Schema):
    configured: bool
    secret_key_hint: str | None = Field(
        description="the mode and last four characters; the key itself is never returned",
        examples=["sk_live_…4xQz"],
    )
    publishable_key: str | None


class CollectionOut(Schema):
    mode: Literal["platform", "connect", "custom_keys"]
    statement_descriptor: str | None
    application_fee_percent: str = Field(description="the platform's fee on each payment")
    connect: ConnectOut
    custom_keys: CustomKeysOut
    updated_at: datetime


class CollectionIn(InSchema):
    mode: Literal["platform", "connect", "custom_keys"] | None = None
    statement_descriptor: str | None = Field(
        default=None,
        max_length=100,
        description="5-22 Latin letters, digits, spaces, '-' and '&' with a letter; '' clears",
    )


class CustomKeysIn(InSchema):
    secret_key: str = Field(max_length=255, description="`sk_live_…` or `sk_test_…`")
    publishable_key: str = Field(default="", max_length=255)


class OnboardingOut(Schema):
    url: str = Field(description="the processor's hosted onboarding; open it in a browser")


class TenantCardIn(InSchema):
    token: str = Field(
        max_length=255,
        description="the PaymentMethod id from Stripe Elements (`pm_…`); with the "
        "simulated processor, a Stripe test card number",
    )


class TenantCardOut(Schema):
    id: str
    tenant_id: str
    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    chargeable: bool = Field(
        description="false for a card saved at an account the partner no longer collects with"
    )
    created_at: datetime


def _settings(request) -> dict:
    return collection.settings_json(collection.settings_for(request.actor.partner))


@router.get("/tenant-billing", response=CollectionOut, auth=scope("billing:read"))
def get_collection(request):
    """How tenants' invoices are collected: the mode, the statement descriptor, the Connect
    account's state and whether custom keys are saved (never the key)."""
    return _settings(request)


@router.patch("/tenant-billing", response=CollectionOut, auth=scope("billing:write"))
def patch_collection(request, payload: CollectionIn):
    """Change the mode or the statement descriptor. 409 `collection_not_ready` for Connect
    before the account is active, or Custom Keys before a key is saved."""
    collection.collection_update(
        actor=request.actor, mode=payload.mode, statement_descriptor=payload.statement_descriptor
    )
    return _settings(request)


@router.put("/tenant-billing/custom-keys", response=CollectionOut, auth=scope("billing:write"))
def put_custom_keys(request, payload: CustomKeysIn):
    """Save your own Stripe keys (checked with Stripe first). The secret key is stored
    encrypted and never returned; switch `mode` to `custom_keys` to collect with it."""
    collection.custom_keys_set(
        actor=request.actor,
        secret_key=payload.secret_key,
        publishable_key=payload.publishable_key,
    )
    return _settings(request)


@router.delete("/tenant-billing/custom-keys", response=CollectionOut, auth=scope("billing:write"))
def delete_custom_keys(request):
    collection.custom_keys_remove(actor=request.actor)
    return _settings(request)


@router.post(
    "/tenant-billing/connect/onboarding", response=OnboardingOut, auth=scope("billing:write")
)
def start_onboarding(request):
    """A single-use link to the processor's hosted onboarding for your connected account.
    Afterwards, `POST /v1/tenant-billing/connect/refresh` reads its state."""
    page = f"{public_base_url(request)}/settings/billing/tenant-billing"
    url = collection.connect_start(
        actor=request.actor,
        return_url=f"{page}?connect=return",
        refresh_url=f"{page}?connect=retry",
    )
    return {"url": url}


@router.post("/tenant-billing/connect/refresh", response=CollectionOut, auth=scope("billing:write"))
def refresh_connect(request):
    collection.connect_refresh(actor=request.actor)
    return _settings(request)


def _tenant(request, tenant_id: str):
    return tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])


@router.get(
    "/tenants/{tenant_id}/payment-methods",
    response=ListOut[TenantCardOut],
    auth=scope("billing:read"),
)
def list_tenant_cards(request, tenant_id: str):
    """The tenant's cards on file, the default (the one its invoices are charged to) first."""
    tenant = _tenant(request, tenant_id)
    found = collection.settings_for(request.actor.partner)
    cards = collection.tenant_cards(tenant)
    return {"data": [collection.card_json(card, found) for card in cards], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/payment-methods",
    response={201: TenantCardOut},
    auth=scope("billing:write"),
)
def add_tenant_card(request, tenant_id: str, payload: TenantCardIn):
    """Save a card as the tenant's default; its open invoices are then charged to it."""
    tenant = _tenant(request, tenant_id)
    card = collection.tenant_card_add(actor=request.actor, tenant=tenant, token=payload.token)
    found = collection.settings_for(request.actor.partner)
    return Status(201, collection.card_json(card, found))


@router.post(
    "/tenants/{tenant_id}/payment-methods/{payment_method_id}/default",
    response=TenantCardOut,
    auth=scope("billing:write"),
)
def default_tenant_card(request, tenant_id: str, payment_method_id: str):
    tenant = _tenant(request, tenant_id)
    card = collection.tenant_card_set_default(
        actor=request.actor, tenant=tenant, card_id=payment_method_id
    )
    return collection.card_json(card, collection.settings_for(request.actor.partner))


@router.delete(
    "/tenants/{tenant_id}/payment-methods/{payment_method_id}",
    response={204: None},
    auth=scope("billing:write"),
)
def delete_tenant_card(request, tenant_id: str, payment_method_id: str):
    tenant = _tenant(request, tenant_id)
    collection.tenant_card_delete(actor=request.actor, tenant=tenant, card_id=payment_method_id)
    return Status(204, None)
