"""Settings → Billing → Tenant Invoices (also Reports → Tenant Invoices): the cards, the
filtered list, one invoice with its lines and payments, its PDF, and what a partner does
with it (Send, Void, Mark as Paid, Refund, Send Reminder, a new off-cycle invoice). The
invoice services do the work, as they do for `/v1/invoices`."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from trunkline.accounts.views.common import public_base_url
from trunkline.billing import checkout, collection
from trunkline.billing import tenant_invoices as invoices
from trunkline.billing.api_invoices import invoice_out
from trunkline.billing.exports import csv_response, tenant_invoices_csv
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoice_pdf import tenant_invoice_pdf
from trunkline.core.errors import TrunklineError
from trunkline.core.money import Money
from trunkline.core.pagination import paginate
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms_invoices import (
    InvoiceNewForm,
    InvoicePaymentForm,
    InvoiceRefundForm,
    TenantInvoiceFilterForm,
    line_inputs,
    line_rows,
)
from trunkline.portal.rendering import (
    finish,
    htmx_target,
    or_404,
    render_modal,
    show_service_error,
    vary_on_htmx,
)
from trunkline.portal.views.billing import billing_tabs
from trunkline.tenants.models import Tenant
from trunkline.tenants.selectors import tenants_visible_to

INVOICES_URL = "/settings/billing/invoices"
PAGE_SIZE = 50
S = Invoice.Status
LINE_ERROR = re.compile(r"^lines\[(\d+)\](?:\.(\w+))?$")


def _detail_url(invoice: Invoice) -> str:
    return f"{INVOICES_URL}/{invoice.id}"


def _modal_status(error: TrunklineError) -> int:
    # htmx shows a modal answered with 409 or 422 (see portal.js).
    return error.status if error.status in (409, 422) else 422


# --- the list ------------------------------------------------------------------------------


@require_GET
@partner_required
def invoice_list(request):
    actor = request.actor
    form = TenantInvoiceFilterForm(request.GET, tenants=tenants_visible_to(actor).order_by("name"))
    page, status, found = None, 200, None
    if form.is_valid():
        try:
            found = invoices.invoice_search(actor=actor, **form.query())
            page = paginate(
                found,
                limit=PAGE_SIZE,
                cursor=request.GET.get("cursor") or None,
                sort_field="created_at",
                descending=True,
            )
        except TrunklineError as error:
            show_service_error(form, error)
            page, status = None, 422
    else:
        status = 422
    filters = {name: value for name, value in request.GET.items() if name in form.fields and value}
    context = {
        "nav": "settings",
        "tab": "invoices",
        "billing_tabs": billing_tabs(),
        "form": form,
        "page": page,
        # The cards count what the filters select (an invalid filter: everything).
        "stats": invoices.invoice_stats(actor=actor, invoices=found),
        "filtered": bool(filters),
        "csv_url": f"{INVOICES_URL}.csv" + (f"?{urlencode(filters)}" if filters else ""),
        "load_more_url": f"{INVOICES_URL}?{urlencode({**filters, 'cursor': page.next_cursor})}"
        if page and page.next_cursor
        else "",
    }
    template = (
        "portal/billing/_invoice_rows.html"
        if htmx_target(request) == "load-more"
        else "portal/billing/invoices.html"
    )
    return vary_on_htmx(render(request, template, context, status=status))


@require_GET
@partner_required
def invoice_list_csv(request):
    """The invoices the page's filters select, as `GET /v1/invoices.csv` writes them."""
    actor = request.actor
    form = TenantInvoiceFilterForm(request.GET, tenants=tenants_visible_to(actor).order_by("name"))
    if not form.is_valid():
        return HttpResponse("Those filters are not valid.", status=422, content_type="text/plain")
    try:
        found = invoices.invoice_search(actor=actor, **form.query())
    except TrunklineError as error:
        return HttpResponse(error.message, status=422, content_type="text/plain")
    return csv_response(tenant_invoices_csv(found), "tenant-invoices.csv")


@require_GET
@partner_required
def reports_invoices(request):
    """Reports → Tenant Invoices is the same page."""
    query = request.GET.urlencode()
    return redirect(INVOICES_URL + (f"?{query}" if query else ""))


# --- one invoice ---------------------------------------------------------------------------


def _invoice(request, invoice_id: str) -> Invoice:
    return or_404(invoices.invoice_get, actor=request.actor, invoice_id=invoice_id[:64])


def _refundable(invoice: Invoice) -> int:
    return invoice.paid_micros - invoice.refunded_micros


def _actions(invoice: Invoice) -> dict:
    """The buttons that fit the invoice's status (the services still decide)."""
    open_ = invoice.status in invoices.OPEN_STATUSES
    return {
        "send": invoice.status == S.DRAFT,
        "void": invoice.status == S.DRAFT,
        "pay": open_,
        "remind": open_,
        "charge": open_ and invoice.amount_due_micros > 0,
        "payment_link": open_ and invoice.amount_due_micros > 0,
        "refund": invoice.status in (S.PAID, S.PARTIALLY_PAID, S.OVERDUE)
        and _refundable(invoice) > 0,
    }


@require_GET
@partner_required
def invoice_detail(request, invoice_id: str):
    invoice = _invoice(request, invoice_id)
    prefetch_related_objects([invoice], "lines", "payments", "charges__payment_method", "checkouts")
    tax_percent = ""
    if invoice.tax_code and invoice.tax_rate is not None:
        tax_percent = format((invoice.tax_rate * 100).normalize(), "f") + "%"
    return render(
        request,
        "portal/billing/invoice_detail.html",
        {
            "nav": "settings",
            "invoice": invoice,
            "out": invoice_out(invoice),
            "tax_percent": tax_percent,
            "actions": _actions(invoice),
            "refundable_micros": _refundable(invoice),
            "checkouts": sorted(invoice.checkouts.all(), key=lambda c: c.created_at, reverse=True),
        },
    )


@require_GET
@partner_required
def invoice_pdf(request, invoice_id: str):
    invoice = _invoice(request, invoice_id)
    response = HttpResponse(tenant_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.display_number}.pdf"'
    return response


# --- what a partner does with it ------------------------------------------------------------

CONFIRMATIONS = {
    "send": {
        "service": invoices.invoice_send,
        "title": "Send invoice",
        "button": "Send Invoice",
        "text": "Issue {number}: it is dated today, due in {days} days and emailed to {tenant}. "
        "A sent invoice can no longer be voided.",
        "done": "{number} sent to {tenant}.",
    },
    "void": {
        "service": invoices.invoice_void,
        "title": "Void invoice",
        "button": "Void Invoice",
        "danger": True,
        "text": "Cancel the draft {number}. It keeps its number and is never sent.",
        "done": "{number} voided.",
    },
    "remind": {
        "service": invoices.invoice_send_reminder,
        "title": "Send reminder",
        "button": "Send Reminder",
        "text": "Email {tenant} that {number} is still open, with the amount due.",
        "done": "Reminder about {number} sent to {tenant}.",
    },
    "charge": {
        "service": lambda *, actor, invoice: collection.invoice_charge(
            invoice_id=invoice.id, manual=True, actor=actor
        ),
        "title": "Charge card",
        "button": "Charge Card",
        "text": "Charge {tenant}'s default card now for what {number} has due.",
        "done": "Charged {tenant}'s card for {number}: the result is under Card charges.",
    },
}


def _words(template: str, invoice: Invoice) -> str:
    return template.format(
        number=invoice.display_number, tenant=invoice.tenant.name, days=invoices.DUE_DAYS
    )


def _confirmed_action(request, invoice_id: str, action: str):
    invoice = _invoice(request, invoice_id)
    spec = CONFIRMATIONS[action]
    context = {
        "nav": "settings",
        "invoice": invoice,
        "title": spec["title"],
        "button": spec["button"],
        "danger": spec.get("danger", False),
        "text": _words(spec["text"], invoice),
        "action_url": f"{_detail_url(invoice)}/{action}",
    }
    if request.method == "POST":
        try:
            spec["service"](actor=request.actor, invoice=invoice)
        except TrunklineError as error:
            context["error"] = error.message[:1].upper() + error.message[1:]
            return render_modal(
                request, "portal/billing/_invoice_action.html", context, status=_modal_status(error)
            )
        messages.success(request, _words(spec["done"], invoice))
        return finish(request, _detail_url(invoice))
    return render_modal(request, "portal/billing/_invoice_action.html", context)


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_send(request, invoice_id: str):
    return _confirmed_action(request, invoice_id, "send")


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_void(request, invoice_id: str):
    return _confirmed_action(request, invoice_id, "void")


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_remind(request, invoice_id: str):
    return _confirmed_action(request, invoice_id, "remind")


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_charge(request, invoice_id: str):
    return _confirmed_action(request, invoice_id, "charge")


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_payment_link(request, invoice_id: str):
    """Payment link: a hosted payment page for the amount due, to send to the tenant (the
    open one while it has time left)."""
    invoice = _invoice(request, invoice_id)
    context = {
        "nav": "settings",
        "invoice": invoice,
        "title": "Payment link",
        "action_url": f"{_detail_url(invoice)}/payment-link",
        "pay_link": checkout.pay_link_url(invoice, public_base_url(request)),
    }
    status = 200
    if request.method == "POST":
        try:
            context["checkout"] = checkout.invoice_checkout_create(
                actor=request.actor, invoice_id=invoice.id, base_url=public_base_url(request)
            )
        except TrunklineError as error:
            context["error"] = error.message[:1].upper() + error.message[1:]
            status = _modal_status(error)
    return render_modal(
        request, "portal/billing/_invoice_payment_link.html", context, status=status
    )


def _money_modal(request, invoice, form, *, template, title, status=200):
    return render_modal(
        request,
        template,
        {
            "nav": "settings",
            "invoice": invoice,
            "form": form,
            "title": title,
            "refundable_micros": _refundable(invoice),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_pay(request, invoice_id: str):
    """Mark as Paid: the amount due by default, or part of it."""
    invoice = _invoice(request, invoice_id)
    template, title = "portal/billing/_invoice_pay.html", f"Mark {invoice.display_number} as Paid"
    if request.method != "POST":
        form = InvoicePaymentForm(initial={"amount": Money(invoice.amount_due_micros).to_json()})
        return _money_modal(request, invoice, form, template=template, title=title)
    form = InvoicePaymentForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            invoice = invoices.invoice_record_payment(
                actor=request.actor,
                invoice=invoice,
                amount=form.amount_value(),
                note=form.cleaned_data["note"],
            )
        except TrunklineError as error:
            show_service_error(form, error)
            status = _modal_status(error)
        else:
            paid = "paid in full" if invoice.status == S.PAID else "partly paid"
            messages.success(request, f"{invoice.display_number} is {paid}.")
            return finish(request, _detail_url(invoice))
    return _money_modal(request, invoice, form, template=template, title=title, status=status)


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_refund(request, invoice_id: str):
    """Refund all or part of what was paid, after a confirmation."""
    invoice = _invoice(request, invoice_id)
    template, title = "portal/billing/_invoice_refund.html", f"Refund {invoice.display_number}"
    tenant_name = invoice.tenant.name
    if request.method != "POST":
        form = InvoiceRefundForm(
            initial={"amount": Money(_refundable(invoice)).to_json()}, tenant_name=tenant_name
        )
        return _money_modal(request, invoice, form, template=template, title=title)
    form = InvoiceRefundForm(request.POST, tenant_name=tenant_name)
    status = 422
    if form.is_valid():
        try:
            invoice = invoices.invoice_refund(
                actor=request.actor,
                invoice=invoice,
                amount=form.amount_value(),
                note=form.cleaned_data["note"],
                destination=form.cleaned_data["destination"] or "credit",
            )
        except TrunklineError as error:
            show_service_error(form, error)
            status = _modal_status(error)
        else:
            refunded = Money(invoice.refunded_micros).to_json()
            messages.success(
                request, f"Refund recorded on {invoice.display_number}: ${refunded} refunded."
            )
            return finish(request, _detail_url(invoice))
    return _money_modal(request, invoice, form, template=template, title=title, status=status)


@require_http_methods(["GET", "POST"])
@writer_required
def invoice_new(request):
    """An off-cycle invoice, saved as a draft to check and then send."""
    tenants = list(
        tenants_visible_to(request.actor).exclude(status=Tenant.Status.CANCELLED).order_by("name")
    )
    posted = request.method == "POST"
    form = InvoiceNewForm(request.POST if posted else None, tenants=tenants)
    rows = line_rows(request.POST if posted else None)
    status = 200
    if posted and "add_lines" not in request.POST:
        status = 422
        if form.is_valid():
            tenant = next((t for t in tenants if t.id == form.cleaned_data["tenant"]), None)
            lines, positions = line_inputs(rows)
            if tenant is None:
                form.add_error("tenant", "Choose one of your tenants.")
            else:
                try:
                    invoice = invoices.invoice_create_off_cycle(
                        actor=request.actor,
                        tenant=tenant,
                        lines=lines,
                        memo=form.cleaned_data["memo"],
                    )
                except TrunklineError as error:
                    _show_line_error(form, rows, positions, error)
                    status = _modal_status(error)
                else:
                    messages.success(
                        request, f"Draft {invoice.display_number} saved. Check it, then send it."
                    )
                    return finish(request, _detail_url(invoice))
    return render_modal(
        request,
        "portal/billing/_invoice_new.html",
        {
            "nav": "settings",
            "title": "New Invoice",
            "form": form,
            "rows": rows,
            "modal_class": "wide",
        },
        status=status,
    )


def _show_line_error(form, rows, positions, error: TrunklineError) -> None:
    """A line's error beside its row (the service counts only the rows filled in)."""
    match = LINE_ERROR.match(error.field or "")
    if match is None or int(match.group(1)) >= len(positions):
        show_service_error(form, error)
        return
    row = rows[positions[int(match.group(1))]]
    # "lines[0].unit_price is at most …" reads, beside the row, as "Unit price is at most …".
    message = error.message.removeprefix(error.field)
    label = (match.group(2) or "line").replace("_", " ").capitalize()
    row["error"] = f"{label}{message}"
