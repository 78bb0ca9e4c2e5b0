"""`/v1/payment-methods`, `/v1/wallet/top-up` and `/v1/wallet/auto-recharge`: how a
partner pays the platform."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import Field, field_validator

from trunkline.accounts.api_auth import scope
from trunkline.accounts.views.common import public_base_url
from trunkline.billing import card_confirmations, ledger
from trunkline.billing import payment_services as services
from trunkline.core.ids import new_id
from trunkline.core.money import Money, MoneyError
from trunkline.core.schemas import ListOut

router = Router(tags=["Billing"])


class PaymentMethodIn(Schema):
    token: str = Field(
        max_length=255,
        description="the PaymentMethod id from Stripe Elements (`pm_…`); with the "
        "simulated processor, a Stripe test card number",
    )


class PaymentMethodOut(Schema):
    id: str
    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created_at: str


def _dollars(value: str) -> str:
    try:
        Money.parse(value)
    except MoneyError as error:
        raise ValueError(str(error)) from None
    return value


class TopUpIn(Schema):
    amount: str = Field(max_length=20, description='dollars, e.g. "100.00"')

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        return _dollars(value)


class TopUpOut(Schema):
    transaction_id: str
    charge_id: str
    amount: str
    balance: str


class AutoRechargeIn(Schema):
    enabled: bool
    threshold: str = Field(max_length=20, description="recharge when the balance is below this")
    amount: str = Field(max_length=20, description="how much to add each time (at least $10)")

    @field_validator("threshold", "amount")
    @classmethod
    def _money(cls, value: str) -> str:
        return _dollars(value)


class AutoRechargeOut(Schema):
    enabled: bool
    threshold: str
    amount: str
    disabled_reason: str
    calls_blocked: bool


def _method(method) -> dict:
    return {
        "id": method.id,
        "kind": method.kind,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
        "created_at": method.created_at.isoformat().replace("+00:00", "Z"),
    }


@router.get("/payment-methods", response=ListOut[PaymentMethodOut], auth=scope("billing:read"))
def list_payment_methods(request):
    """The partner's cards on file, the default first (never more than a few)."""
    methods = services.payment_methods_of(request.actor.partner)
    return {"data": [_method(method) for method in methods], "next_cursor": None}


@router.post(
    "/payment-methods",
    response={201: PaymentMethodOut},
    auth=scope("billing:write"),
)
def add_payment_method(request, body: PaymentMethodIn):
    method = services.payment_method_add(
        partner=request.actor.partner, actor=request.actor, token=body.token
    )
    return Status(201, _method(method))


@router.post(
    "/payment-methods/{payment_method_id}/default",
    response=PaymentMethodOut,
    auth=scope("billing:write"),
)
def set_default_payment_method(request, payment_method_id: str):
    method = services.payment_method_set_default(
        partner=request.actor.partner, actor=request.actor, payment_method_id=payment_method_id
    )
    return _method(method)


@router.delete(
    "/payment-methods/{payment_method_id}", response={204: None}, auth=scope("billing:write")
)
def delete_payment_method(request, payment_method_id: str):
    services.payment_method_delete(
        partner=request.actor.partner, actor=request.actor, payment_method_id=payment_method_id
    )
    return Status(204, None)


@router.post("/wallet/top-up", response=TopUpOut, auth=scope("billing:write"))
def top_up(request, body: TopUpIn):
    """Charge the default card now and add the amount to the wallet. With an
    `Idempotency-Key`, a retry charges nothing more. 402 `card_declined` with the bank's
    reason; 409 `authentication_required` when the bank wants the cardholder to confirm:
    the error's `confirmation` names the confirmation and the `confirmation_url` where the
    cardholder approves it; the wallet is credited once the bank accepts."""
    partner = request.actor.partner
    key = request.headers.get("Idempotency-Key") or new_id("req")
    posting = services.wallet_top_up(
        partner=partner,
        actor=request.actor,
        amount=Money.parse(body.amount),
        idempotency_key=key[:150],
        base_url=public_base_url(request),
    )
    return {
        "transaction_id": posting.id,
        "charge_id": posting.reference,
        "amount": Money.parse(body.amount).to_json(),
        "balance": ledger.wallet_balance(partner).to_json(),
    }


def _auto_recharge(partner) -> dict:
    return services.wallet_auto_recharge_settings(partner) | {
        "calls_blocked": services.partner_calls_blocked(partner)
    }


@router.get("/wallet/auto-recharge", response=AutoRechargeOut, auth=scope("billing:read"))
def get_auto_recharge(request):
    return _auto_recharge(request.actor.partner)


@router.put("/wallet/auto-recharge", response=AutoRechargeOut, auth=scope("billing:write"))
def put_auto_recharge(request, body: AutoRechargeIn):
    partner = request.actor.partner
    services.wallet_auto_recharge_update(
        partner=partner,
        actor=request.actor,
        enabled=body.enabled,
        threshold=Money.parse(body.threshold),
        amount=Money.parse(body.amount),
    )
    return _auto_recharge(partner)


class CardConfirmationOut(Schema):
    id: str
    purpose: str
    amount: str
    status: str = Field(description="PENDING, SUCCEEDED, FAILED or EXPIRED")
    failure_reason: str | None
    confirmation_url: str = Field(description="where the cardholder approves the payment")
    transaction_id: str | None = Field(description="the wallet credit, once it succeeded")
    created_at: datetime
    settled_at: datetime | None


@router.get(
    "/wallet/confirmations/{confirmation_id}",
    response=CardConfirmationOut,
    auth=scope("billing:read"),
)
def confirmation_get(request, confirmation_id: str):
    """A top-up waiting for the cardholder's confirmation (3-D Secure), as last known."""
    confirmation = card_confirmations.confirmation_get(
        partner=request.actor.partner, confirmation_id=confirmation_id
    )
    return card_confirmations.confirmation_out(confirmation, base_url=public_base_url(request))


@router.post(
    "/wallet/confirmations/{confirmation_id}/refresh",
    response=CardConfirmationOut,
    auth=scope("billing:write"),
)
def confirmation_refresh(request, confirmation_id: str):
    """Ask the processor whether the cardholder confirmed; a confirmed payment credits the
    wallet (once)."""
    confirmation = card_confirmations.confirmation_get(
        partner=request.actor.partner, confirmation_id=confirmation_id
    )
    confirmation = card_confirmations.confirmation_refresh(
        confirmation=confirmation, actor=request.actor
    )
    return card_confirmations.confirmation_out(confirmation, base_url=public_base_url(request))
