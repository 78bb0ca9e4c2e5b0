"""`/v1/subscription` and `/v1/plans`: the partner's platform plan, its changes and the
platform's subscription invoices (with PDFs)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.accounts.models import Partner
from trunkline.billing import ledger, subscription_cycle, subscriptions
from trunkline.billing.invoices_platform import (
    invoice_pdf,
    platform_invoice_get,
    platform_invoices,
)
from trunkline.billing.models import Plan, PlanPrice, PlatformInvoice
from trunkline.billing.payment_services import billing_account_for
from trunkline.core.errors import NotFound
from trunkline.core.money import Money
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut

router = Router(tags=["Billing"])


def _money(micros: int | None) -> str | None:
    return None if micros is None else Money(micros).to_json()


class RatesOut(Schema):
    plan: str
    monthly_fee: str
    max_extensions: int | None = Field(description="null: unlimited")
    extension_monthly: str
    did_local_monthly: str
    did_toll_free_monthly: str
    minute_local: str
    minute_toll_free: str
    effective_from: datetime


def _rates(row: PlanPrice) -> dict:
    return {
        "plan": row.plan,
        "monthly_fee": _money(row.monthly_fee_micros),
        "max_extensions": row.max_extensions,
        "extension_monthly": _money(row.extension_monthly_micros),
        "did_local_monthly": _money(row.did_local_monthly_micros),
        "did_toll_free_monthly": _money(row.did_toll_free_monthly_micros),
        "minute_local": Money(row.minute_local_micros).to_json(3),
        "minute_toll_free": Money(row.minute_toll_free_micros).to_json(3),
        "effective_from": row.effective_from,
    }


class SubscriptionOut(Schema):
    plan: str
    status: str
    trial_ends_at: datetime | None
    trial_days_left: int | None
    activated_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    pending_plan: str | None
    past_due_since: datetime | None
    rates: RatesOut | None
    upcoming_rates: list[RatesOut] = Field(description="Price changes already scheduled.")
    wallet_balance: str


def _subscription(partner: Partner, now: datetime) -> dict:
    partner = Partner.objects.get(pk=partner.pk)
    account = billing_account_for(partner)
    current = subscriptions.plan_price_at(partner=partner, plan=account.plan, at=now)
    return {
        "plan": account.plan,
        "status": partner.status,
        "trial_ends_at": partner.trial_ends_at,
        "trial_days_left": partner.trial_days_left(now),
        "activated_at": account.activated_at,
        "current_period_start": account.current_period_start,
        "current_period_end": account.current_period_end,
        "pending_plan": account.pending_plan or None,
        "past_due_since": account.past_due_since,
        "rates": _rates(current) if current else None,
        "upcoming_rates": [
            _rates(row)
            for row in subscriptions.upcoming_prices(partner=partner, plan=account.plan, now=now)
        ],
        "wallet_balance": ledger.wallet_balance(partner).to_json(),
    }


@router.get("/subscription", response=SubscriptionOut, auth=scope("billing:read"))
def get_subscription(request):
    """The plan, trial, current cycle, pending downgrade, rates in force and wallet balance."""
    return _subscription(_partner(request), timezone.now())


def _partner(request) -> Partner:
    if request.actor.partner is None:
        raise NotFound("no subscription: the caller is not a partner")
    return request.actor.partner


class LineOut(Schema):
    description: str
    quantity: int
    unit_amount: str
    amount: str


class InvoiceOut(Schema):
    id: str
    number: str
    type: str = Field(description="Always `subscription_invoice`: how History marks these.")
    kind: str = Field(description="activation | upgrade | monthly")
    plan: str
    status: str = Field(description="open | paid | failed")
    period_start: datetime
    period_end: datetime
    lines: list[LineOut]
    subtotal: str
    total: str
    currency: str
    charge_id: str
    failure_message: str
    attempts: int
    created_at: datetime
    paid_at: datetime | None
    pdf_url: str


def _invoice(invoice: PlatformInvoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.display_number,
        "type": "subscription_invoice",
        "kind": invoice.kind,
        "plan": invoice.plan,
        "status": invoice.status,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "lines": [
            {
                "description": line["description"],
                "quantity": line.get("quantity", 1),
                "unit_amount": _money(line.get("unit_amount_micros", line["amount_micros"])),
                "amount": _money(line["amount_micros"]),
            }
            for line in invoice.lines
        ],
        "subtotal": _money(invoice.subtotal_micros),
        "total": _money(invoice.total_micros),
        "currency": invoice.currency,
        "charge_id": invoice.charge_id,
        "failure_message": invoice.failure_message,
        "attempts": invoice.attempts,
        "created_at": invoice.created_at,
        "paid_at": invoice.paid_at,
        "pdf_url": f"/v1/subscription/invoices/{invoice.id}/pdf",
    }


class ActivateIn(InSchema):
    plan: str = Field(max_length=20, description="starter | professional | business")


class ActivationOut(Schema):
    subscription: SubscriptionOut
    invoice: InvoiceOut


@router.post("/subscription/activate", response=ActivationOut, auth=scope("billing:write"))
def activate_subscription(request, body: ActivateIn):
    """End the trial: the default card pays the rest of this month and the initial wallet
    credit. 409 `payment_method_required` without a card, 402 `card_declined` when refused."""
    now = timezone.now()
    invoice = subscriptions.subscription_activate(actor=request.actor, plan=body.plan, now=now)
    return {"subscription": _subscription(_partner(request), now), "invoice": _invoice(invoice)}


class ChangePlanIn(InSchema):
    plan: str = Field(max_length=20)
    confirm: bool = Field(default=False, description="false: preview only; true: make the change")


class ChangePlanOut(Schema):
    plan: str
    current_plan: str
    direction: str = Field(description="upgrade | downgrade | cancel_downgrade")
    new_monthly_fee: str
    prorated_charge: str = Field(description="What the rest of this month costs on the new plan")
    amount_due_now: str
    days_left: int
    days_in_month: int
    effective_at: datetime
    confirmed: bool
    invoice: InvoiceOut | None
    subscription: SubscriptionOut


@router.post("/subscription/change-plan", response=ChangePlanOut, auth=scope("billing:write"))
def change_plan(request, body: ChangePlanIn):
    """Preview a plan change, or make it with `confirm: true`. Upgrades are charged
    (prorated) and apply at once; downgrades apply at the end of the cycle. Enterprise is
    arranged with sales (409 `contact_sales`)."""
    now = timezone.now()
    change = subscriptions.subscription_change_plan(
        actor=request.actor, plan=body.plan, confirm=body.confirm, now=now
    )
    return {
        "plan": change.plan,
        "current_plan": change.current_plan,
        "direction": change.direction,
        "new_monthly_fee": change.new_monthly_fee.to_json(),
        "prorated_charge": change.prorated_charge.to_json(),
        "amount_due_now": change.amount_due_now.to_json(),
        "days_left": change.days_left,
        "days_in_month": change.days_in_month,
        "effective_at": change.effective_at,
        "confirmed": change.confirmed,
        "invoice": _invoice(change.invoice) if change.invoice else None,
        "subscription": _subscription(_partner(request), now),
    }


class InvoiceQuery(Schema):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


@router.get("/subscription/invoices", response=ListOut[InvoiceOut], auth=scope("billing:read"))
def list_invoices(request, query: Query[InvoiceQuery]):
    """The platform's subscription invoices, newest first."""
    page = paginate(
        platform_invoices(actor=request.actor),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="number",
        descending=True,
    )
    return {"data": [_invoice(item) for item in page.items], "next_cursor": page.next_cursor}


@router.get("/subscription/invoices/{invoice_id}", response=InvoiceOut, auth=scope("billing:read"))
def get_invoice(request, invoice_id: str):
    return _invoice(platform_invoice_get(actor=request.actor, invoice_id=invoice_id[:40]))


@router.get(
    "/subscription/invoices/{invoice_id}/pdf",
    auth=scope("billing:read"),
    openapi_extra={
        "responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}},
    },
)
def get_invoice_pdf(request, invoice_id: str):
    invoice = platform_invoice_get(actor=request.actor, invoice_id=invoice_id[:40])
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.display_number}.pdf"'
    return response


@router.post(
    "/subscription/invoices/{invoice_id}/pay", response=InvoiceOut, auth=scope("billing:write")
)
def pay_invoice(request, invoice_id: str):
    """Charge a failed (or open) invoice to the default card now."""
    invoice = platform_invoice_get(actor=request.actor, invoice_id=invoice_id[:40])
    subscription_cycle.subscription_invoice_pay(
        actor=request.actor, invoice=invoice, now=timezone.now()
    )
    invoice.refresh_from_db()
    return _invoice(invoice)


class PlanOut(Schema):
    plan: str
    name: str
    self_service: bool = Field(description="false for Enterprise: arranged with sales")
    rates: RatesOut | None = Field(description="null: custom prices (Enterprise)")


@router.get("/plans", response=ListOut[PlanOut], auth=scope("billing:read"))
def list_plans(request):
    """The platform tiers and their prices in force; Enterprise shows the caller's own
    agreed prices, when it has them."""
    partner = _partner(request)
    now = timezone.now()
    data = []
    for plan in subscriptions.TIER_ORDER:
        row = subscriptions.plan_price_at(partner=partner, plan=plan, at=now)
        data.append(
            {
                "plan": plan,
                "name": Plan(plan).label,
                "self_service": plan in subscriptions.SELF_SERVICE_PLANS,
                "rates": _rates(row) if row else None,
            }
        )
    return {"data": data, "next_cursor": None}
