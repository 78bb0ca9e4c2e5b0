"""`/v1/invoices`: a partner's invoices to its tenants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.accounts.views.common import public_base_url
from trunkline.billing import checkout, collection, tenant_charges
from trunkline.billing import tenant_invoices as invoices
from trunkline.billing.exports import csv_response, tenant_invoices_csv
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoice_pdf import tenant_invoice_pdf
from trunkline.core.money import Money
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Tenant invoices"])

StatusName = Literal["DRAFT", "SENT", "PARTIALLY_PAID", "PAID", "OVERDUE", "CANCELLED"]


class InvoiceQuery(Schema):
    tenant_id: str | None = Field(default=None, max_length=64)
    status: StatusName | None = None
    search: str | None = Field(
        default=None, max_length=100, description="invoice number, tenant name or SIP prefix"
    )
    issued_from: date | None = None
    issued_to: date | None = Field(default=None, description="inclusive")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class LineOut(Schema):
    kind: str
    description: str
    quantity: str
    unit_price: str
    amount: str


class PaymentOut(Schema):
    id: str
    method: str
    amount: str = Field(description="negative for a refund")
    note: str
    created_at: datetime


class ChargeOut(Schema):
    id: str
    attempt: int
    status: Literal["PENDING", "SUCCEEDED", "DECLINED", "REQUIRES_ACTION", "ERROR"]
    amount: str
    fee: str = Field(description="the platform's fee on this payment")
    refunded: str
    mode: str
    payment_method_id: str
    card: str = Field(examples=["visa •••• 4242"])
    message: str | None
    created_at: datetime
    settled_at: datetime | None


class InvoiceOut(Schema):
    id: str
    number: str
    tenant_id: str
    tenant_name: str
    kind: str
    status: StatusName
    period_start: date
    period_end: date = Field(description="the day after the last day billed")
    billing_profile_id: str | None
    billing_profile_name: str
    lines: list[LineOut]
    subtotal: str
    tax: str
    tax_name: str | None
    tax_rate: str | None
    total: str
    amount_paid: str
    amount_refunded: str
    amount_due: str
    currency: str
    memo: str
    issued_at: datetime | None
    due_date: date | None
    paid_at: datetime | None
    overdue_at: datetime | None
    last_reminder_at: datetime | None
    payments: list[PaymentOut]
    charges: list[ChargeOut] = Field(description="attempts to charge the tenant's card")
    next_charge_at: datetime | None = Field(
        description="when the card is tried again automatically"
    )
    pdf_url: str
    created_at: datetime


class StatsOut(Schema):
    total: int
    paid: int
    unpaid: int
    outstanding: str


class LineIn(InSchema):
    description: str = Field(max_length=400)
    quantity: int = 1
    unit_price: str = Field(max_length=30)


class InvoiceIn(InSchema):
    tenant_id: str = Field(max_length=64)
    lines: list[LineIn] = Field(max_length=200)
    memo: str = Field(default="", max_length=1000)


class PaymentIn(InSchema):
    amount: str | None = Field(
        default=None, max_length=30, description="omit to pay the whole amount due"
    )
    note: str = Field(default="", max_length=600)


class RefundIn(InSchema):
    amount: str | None = Field(
        default=None, max_length=30, description="omit to refund everything paid"
    )
    note: str = Field(default="", max_length=600)
    destination: Literal["credit", "card", "external"] = Field(
        default="credit",
        description="credit: back to the tenant's account credit, taken off its next "
        "invoices; card: back to the card a payment on this invoice came from; "
        "external: money you returned yourself",
    )


def _money(micros: int) -> str:
    return Money(micros).to_json()


def invoice_out(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.display_number,
        "tenant_id": invoice.tenant_id,
        "tenant_name": invoice.tenant.name,
        "kind": invoice.kind,
        "status": invoice.status,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "billing_profile_id": invoice.billing_profile_id,
        "billing_profile_name": invoice.billing_profile_name,
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "quantity": format(line.quantity.normalize(), "f"),
                "unit_price": _money(line.unit_price_micros),
                "amount": _money(line.amount_micros),
            }
            for line in invoice.lines.all()
        ],
        "subtotal": _money(invoice.subtotal_micros),
        "tax": _money(invoice.tax_micros),
        "tax_name": invoice.tax_name or None,
        "tax_rate": format(invoice.tax_rate.normalize(), "f") if invoice.tax_code else None,
        "total": _money(invoice.total_micros),
        "amount_paid": _money(invoice.paid_micros),
        "amount_refunded": _money(invoice.refunded_micros),
        "amount_due": _money(invoice.amount_due_micros),
        "currency": invoice.currency,
        "memo": invoice.memo,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "paid_at": invoice.paid_at,
        "overdue_at": invoice.overdue_at,
        "last_reminder_at": invoice.last_reminder_at,
        "payments": [
            {
                "id": payment.id,
                "method": payment.method,
                "amount": _money(payment.amount_micros),
                "note": payment.note,
                "created_at": payment.created_at,
            }
            for payment in invoice.payments.all()
        ],
        "charges": collection.invoice_charges(invoice),
        "next_charge_at": collection.next_attempt_at(invoice),
        "pdf_url": f"/v1/invoices/{invoice.id}/pdf",
        "created_at": invoice.created_at,
    }


def _get(request, invoice_id: str) -> Invoice:
    return invoices.invoice_get(actor=request.actor, invoice_id=invoice_id[:64])


def _fresh(request, invoice_id: str) -> dict:
    return invoice_out(_get(request, invoice_id))


@router.get("/invoices", response=ListOut[InvoiceOut], auth=scope("billing:read"))
def list_invoices(request, query: Query[InvoiceQuery]):
    page = paginate(
        invoices.invoice_search(
            actor=request.actor,
            **_filters(query),
        ).prefetch_related("lines", "payments", "charges__payment_method"),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="created_at",
        descending=True,
    )
    return {
        "data": [invoice_out(invoice) for invoice in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/invoices.csv",
    auth=scope("billing:read"),
    openapi_extra={"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}},
)
def export_invoices(request, query: Query[InvoiceQuery]):
    """Every invoice matching the filters of `GET /v1/invoices`, newest first, streamed as
    CSV (`limit` and `cursor` do not apply)."""
    found = invoices.invoice_search(
        actor=request.actor,
        **_filters(query),
    )
    return csv_response(tenant_invoices_csv(found), "tenant-invoices.csv")


@router.get("/invoices/stats", response=StatsOut, auth=scope("billing:read"))
def invoice_stats(request, query: Query[InvoiceQuery]):
    """The Tenant Invoices cards — issued invoices, paid, unpaid and the amount outstanding
    — of the invoices the filters of `GET /v1/invoices` select (all of them without)."""
    found = invoices.invoice_search(actor=request.actor, **_filters(query))
    stats = invoices.invoice_stats(actor=request.actor, invoices=found)
    return {**stats, "outstanding": _money(stats.pop("outstanding_micros"))}


def _filters(query: InvoiceQuery) -> dict:
    return query.model_dump(include={"tenant_id", "status", "search", "issued_from", "issued_to"})


@router.post("/invoices", response={201: InvoiceOut}, auth=scope("billing:write"))
def create_invoice(request, payload: InvoiceIn):
    """An off-cycle invoice, as a DRAFT: send it with `POST /v1/invoices/{id}/send`."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=payload.tenant_id)
    invoice = invoices.invoice_create_off_cycle(
        actor=request.actor,
        tenant=tenant,
        lines=[line.model_dump() for line in payload.lines],
        memo=payload.memo,
    )
    return Status(201, _fresh(request, invoice.id))


@router.get("/invoices/{invoice_id}", response=InvoiceOut, auth=scope("billing:read"))
def get_invoice(request, invoice_id: str):
    return _fresh(request, invoice_id)


@router.get(
    "/invoices/{invoice_id}/pdf",
    auth=scope("billing:read"),
    openapi_extra={
        "responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}},
    },
)
def get_invoice_pdf(request, invoice_id: str):
    invoice = _get(request, invoice_id)
    response = HttpResponse(tenant_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.display_number}.pdf"'
    return response


@router.post("/invoices/{invoice_id}/send", response=InvoiceOut, auth=scope("billing:write"))
def send_invoice(request, invoice_id: str):
    """Issue a DRAFT: it is dated, due in a week and emailed to the tenant."""
    invoices.invoice_send(actor=request.actor, invoice=_get(request, invoice_id))
    return _fresh(request, invoice_id)


@router.post("/invoices/{invoice_id}/void", response=InvoiceOut, auth=scope("billing:write"))
def void_invoice(request, invoice_id: str):
    """Cancel a DRAFT. An issued invoice cannot be voided."""
    invoices.invoice_void(actor=request.actor, invoice=_get(request, invoice_id))
    return _fresh(request, invoice_id)


@router.post("/invoices/{invoice_id}/payments", response=InvoiceOut, auth=scope("billing:write"))
def pay_invoice(request, invoice_id: str, payload: PaymentIn | None = None):
    """Mark as Paid: the whole amount due, or part of it."""
    payload = payload or PaymentIn()
    invoices.invoice_record_payment(
        actor=request.actor,
        invoice=_get(request, invoice_id),
        amount=payload.amount,
        note=payload.note,
    )
    return _fresh(request, invoice_id)


@router.post("/invoices/{invoice_id}/refunds", response=InvoiceOut, auth=scope("billing:write"))
def refund_invoice(request, invoice_id: str, payload: RefundIn | None = None):
    """Refund all or part of what was paid."""
    payload = payload or RefundIn()
    invoices.invoice_refund(
        actor=request.actor,
        invoice=_get(request, invoice_id),
        amount=payload.amount,
        note=payload.note,
        destination=payload.destination,
    )
    return _fresh(request, invoice_id)


@router.post("/invoices/{invoice_id}/charge", response=InvoiceOut, auth=scope("billing:write"))
def charge_invoice(request, invoice_id: str):
    """Charge the tenant's default card now for the amount due (an extra attempt, outside
    the automatic retries). The outcome is the newest entry of `charges`; a decline is not
    an error. 409 `payment_method_required` without a card, `nothing_due` when paid."""
    invoice = _get(request, invoice_id)
    collection.invoice_charge(invoice_id=invoice.id, manual=True, actor=request.actor)
    return _fresh(request, invoice_id)


@router.post("/invoices/{invoice_id}/remind", response=InvoiceOut, auth=scope("billing:write"))
def remind_invoice(request, invoice_id: str):
    """Send Reminder: email the tenant about an open invoice again."""
    invoices.invoice_send_reminder(actor=request.actor, invoice=_get(request, invoice_id))
    return _fresh(request, invoice_id)


# --- hosted checkout -----------------------------------------------------------------------


class CheckoutOut(Schema):
    id: str = Field(description="Checkout session id, `ics_…`.")
    invoice_id: str
    url: str = Field(
        description="The hosted payment page to send the tenant to: Stripe Checkout's page, "
        "or the platform's own with the simulated processor"
    )
    status: Literal["OPEN", "COMPLETED", "EXPIRED"]
    amount: str = Field(description="what the page asks for: the amount due when it opened")
    fee: str = Field(description="the platform's fee on the payment")
    mode: Literal["platform", "connect", "custom_keys"]
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None


@router.post(
    "/invoices/{invoice_id}/checkout-session",
    response={201: CheckoutOut},
    auth=scope("billing:write"),
)
def create_checkout_session(request, invoice_id: str):
    """A hosted payment page for the amount due, for a tenant to pay by card without one
    on file. The open session for the same amount is returned while it has time left;
    each lasts 24 hours. 409 `nothing_due` unless the invoice is sent, partially paid or
    overdue with something due."""
    found = checkout.invoice_checkout_create(
        actor=request.actor, invoice_id=invoice_id, base_url=public_base_url(request)
    )
    return Status(201, checkout.checkout_json(found))


@router.get(
    "/invoices/{invoice_id}/checkout-session/{session_id}",
    response=CheckoutOut,
    auth=scope("billing:read"),
)
def get_checkout_session(request, invoice_id: str, session_id: str):
    found = checkout.invoice_checkout_get(
        actor=request.actor, invoice_id=invoice_id, checkout_id=session_id
    )
    return checkout.checkout_json(found)


# --- one-time charges for the next invoice ---------------------------------------------------


class TenantChargeOut(Schema):
    id: str
    tenant_id: str
    description: str
    quantity: int
    unit_price: str
    amount: str = Field(description="quantity × unit price")
    status: Literal["pending", "billed"] = Field(
        description="pending until the tenant's next cycle invoice bills it"
    )
    invoice_id: str | None = Field(description="the invoice that billed it")
    created_at: datetime


class TenantChargeQuery(Schema):
    status: Literal["pending", "billed"] | None = None


@router.get(
    "/tenants/{tenant_id}/charges",
    response=ListOut[TenantChargeOut],
    auth=scope("billing:read"),
)
def list_tenant_charges(request, tenant_id: str, query: Query[TenantChargeQuery]):
    """The tenant's one-time charges, oldest first: pending ones wait for its next cycle
    invoice, billed ones name the invoice."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])
    charges = tenant_charges.tenant_charges(tenant, status=query.status)
    return {"data": [tenant_charges.charge_json(c) for c in charges], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/charges",
    response={201: TenantChargeOut},
    auth=scope("billing:write"),
)
def add_tenant_charge(request, tenant_id: str, payload: LineIn):
    """Add a one-time charge (a setup fee, a device) to the tenant's next cycle invoice."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])
    charge = tenant_charges.tenant_charge_add(
        actor=request.actor, tenant=tenant, charge=payload.model_dump()
    )
    return Status(201, tenant_charges.charge_json(charge))


@router.delete(
    "/tenants/{tenant_id}/charges/{charge_id}",
    response={204: None},
    auth=scope("billing:write"),
)
def remove_tenant_charge(request, tenant_id: str, charge_id: str):
    """Remove a pending charge; a billed one is refunded from its invoice instead."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])
    tenant_charges.tenant_charge_remove(actor=request.actor, tenant=tenant, charge_id=charge_id)
    return Status(204, None)
