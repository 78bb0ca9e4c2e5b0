"""The platform's subscription invoices to partners: numbering and the PDF.

Numbers are sequential platform-wide with no gaps. The next number is taken from one
counter row under its row lock, in the same transaction that writes the invoice: a
concurrent issue waits for the lock, and a rolled-back issue gives its number back.

These invoices are paid by card, not from the wallet, so they are not wallet postings:
`GET /v1/subscription/invoices` lists them beside the wallet's history, each flagged
`subscription_invoice` with its PDF (see docs/billing.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from fpdf import FPDF

from trunkline.billing.models import InvoiceCounter, PlatformInvoice
from trunkline.core.money import Money

COUNTER = "platform"
ISSUER = "Trunkline"


def invoice_number_next(counter_name: str = COUNTER) -> int:
    """Take the next invoice number of a series (the platform's, or one partner's for its
    tenant invoices); call inside the transaction that writes the invoice."""
    return invoice_numbers_take(counter_name, 1)


def invoice_numbers_take(counter_name: str, count: int) -> int:
    """Take `count` consecutive numbers of a series at once (for a batch of invoices
    written together); returns the first. Call inside the transaction that writes them."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an invoice number is taken in the transaction that uses it")
    if count < 1:
        raise ValueError("take at least one number")
    counter = InvoiceCounter.objects.select_for_update().filter(name=counter_name).first()
    if counter is None:
        try:
            with transaction.atomic():
                InvoiceCounter.objects.create(name=counter_name)
        except IntegrityError:  # created by a concurrent first issue
            pass
        counter = InvoiceCounter.objects.select_for_update().get(name=counter_name)
    first = counter.last_number + 1
    counter.last_number += count
    counter.save(update_fields=["last_number"])
    return first


def invoice_issue(
    *,
    partner,
    kind: str,
    plan: str,
    period_start: datetime,
    period_end: datetime,
    lines: list[dict],
    idempotency_key: str,
    now: datetime,
    paid_by: str = "",
) -> PlatformInvoice:
    """Write the invoice named by `idempotency_key`, or return the one already written.

    `paid_by` is the card charge that already paid it; without one it is open and the
    caller collects it.
    """
    with transaction.atomic():
        existing = PlatformInvoice.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        rounded = [
            {**line, "amount_micros": Money(line["amount_micros"]).rounded_to_cents().micros}
            for line in lines
        ]
        subtotal = sum(line["amount_micros"] for line in rounded)
        return PlatformInvoice.objects.create(
            number=invoice_number_next(),
            partner=partner,
            kind=kind,
            plan=plan,
            period_start=period_start,
            period_end=period_end,
            lines=rounded,
            subtotal_micros=subtotal,
            total_micros=subtotal,  # the platform's fee carries no tax line yet
            status=PlatformInvoice.Status.PAID if paid_by else PlatformInvoice.Status.OPEN,
            charge_id=paid_by,
            attempts=1 if paid_by else 0,
            last_attempt_at=now if paid_by else None,
            paid_at=now if paid_by else None,
            idempotency_key=idempotency_key,
            created_at=now,
        )


# --- the PDF -------------------------------------------------------------------------------


def pdf_text(value: str) -> str:
    # The PDF's built-in fonts speak Latin-1; anything else is shown as "?".
    replaced = value.replace("–", "-").replace("—", "-").replace("→", "to").replace("×", "x")
    return replaced.encode("latin-1", "replace").decode("latin-1")


def pdf_dollars(micros: int) -> str:
    return "$" + Money(micros).to_json()


def invoice_pdf(invoice: PlatformInvoice) -> bytes:
    """The invoice as a one-page PDF, drawn from its stored lines (so it never changes)."""
    partner = invoice.partner
    pdf = FPDF(format="Letter")
    pdf.set_title(f"Invoice {invoice.display_number}")
    pdf.set_author(ISSUER)
    pdf.set_creation_date(invoice.created_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, ISSUER, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 6, "Platform subscription invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    last_day = invoice.period_end - timedelta(seconds=1)
    for label, value in (
        ("Invoice", invoice.display_number),
        ("Date", f"{invoice.created_at:%Y-%m-%d}"),
        ("Billed to", partner.company_name),
        ("Email", partner.billing_email),
        ("Partner id", partner.id),
        ("Plan", invoice.get_plan_display()),
        ("Period", f"{invoice.period_start:%Y-%m-%d} to {last_day:%Y-%m-%d} (UTC)"),
        ("Status", invoice.get_status_display()),
    ):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(130, 7, "Description", border="B")
    pdf.cell(0, 7, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in invoice.lines:
        pdf.cell(130, 7, pdf_text(line["description"])[:80])
        pdf.cell(0, 7, pdf_dollars(line["amount_micros"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for label, micros, bold in (
        ("Subtotal", invoice.subtotal_micros, False),
        ("Total (USD)", invoice.total_micros, True),
    ):
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        pdf.cell(130, 7, label, align="R")
        pdf.cell(0, 7, pdf_dollars(micros), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.status == PlatformInvoice.Status.PAID:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(
            0,
            6,
            pdf_text(f"Paid by card on {invoice.paid_at:%Y-%m-%d}, charge {invoice.charge_id}"),
        )
    return bytes(pdf.output())


# --- reads, always through the caller's partner ------------------------------------------------


def platform_invoices(*, actor):
    from trunkline.core.errors import NotFound

    if actor.partner is None:
        raise NotFound("no invoices: the caller is not a partner")
    return PlatformInvoice.objects.filter(partner=actor.partner)


def platform_invoice_get(*, actor, invoice_id: str) -> PlatformInvoice:
    from trunkline.core.errors import NotFound

    invoice = platform_invoices(actor=actor).select_related("partner").filter(id=invoice_id).first()
    if invoice is None:
        raise NotFound("no such invoice")
    return invoice
