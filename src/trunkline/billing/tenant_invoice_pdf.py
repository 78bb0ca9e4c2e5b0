"""A tenant invoice as a PDF under the partner's brand, drawn from the stored lines, with
the partner's logo (branding) beside its brand name when it has uploaded one."""

from __future__ import annotations

import io
from datetime import timedelta

from fpdf import FPDF

from trunkline.billing.collection import statement_line
from trunkline.billing.invoices_platform import pdf_dollars, pdf_text
from trunkline.billing.models import Invoice
from trunkline.branding.selectors import partner_logo_of
from trunkline.core.money import Money

LOGO_HEIGHT_MM = 12
LOGO_MAX_WIDTH_MM = 60  # a very wide logo is drawn less tall instead
LOGO_GAP_MM = 4


def _letterhead(pdf: FPDF, brand: str, logo) -> None:
    """The brand name, after the partner's logo when it has one, at the top left."""
    pdf.set_font("Helvetica", "B", 18)
    if logo is None:
        pdf.cell(0, 10, pdf_text(brand), new_x="LMARGIN", new_y="NEXT")
        return
    width = LOGO_HEIGHT_MM * logo.width / logo.height
    height = LOGO_HEIGHT_MM
    if width > LOGO_MAX_WIDTH_MM:
        width, height = LOGO_MAX_WIDTH_MM, LOGO_MAX_WIDTH_MM * logo.height / logo.width
    top = pdf.get_y()
    pdf.image(io.BytesIO(bytes(logo.image)), x=pdf.l_margin, y=top, w=width, h=height)
    pdf.set_xy(pdf.l_margin + width + LOGO_GAP_MM, top)
    pdf.cell(0, LOGO_HEIGHT_MM, pdf_text(brand))
    pdf.set_xy(pdf.l_margin, top + max(LOGO_HEIGHT_MM, height) + 1)


def tenant_invoice_pdf(invoice: Invoice) -> bytes:
    partner, tenant = invoice.tenant.partner, invoice.tenant
    brand = partner.display_brand
    pdf = FPDF(format="Letter")
    pdf.set_title(f"Invoice {invoice.display_number}")
    pdf.set_author(pdf_text(brand))
    pdf.set_creation_date(invoice.created_at)
    pdf.add_page()
    _letterhead(pdf, brand, partner_logo_of(partner))
    pdf.set_font("Helvetica", "", 10)
    contact = partner.brand_support_email or partner.billing_email
    pdf.cell(0, 5, pdf_text(contact), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    last_day = invoice.period_end - timedelta(days=1)
    rows = [
        ("Invoice", invoice.display_number),
        ("Status", invoice.get_status_display()),
        ("Issued", f"{invoice.issued_at:%Y-%m-%d}" if invoice.issued_at else "Draft"),
        ("Due", f"{invoice.due_date:%Y-%m-%d}" if invoice.due_date else "-"),
        ("Billed to", tenant.name),
        ("Email", tenant.billing_email),
        ("Account", tenant.sip_prefix),
        ("Period", f"{invoice.period_start:%Y-%m-%d} to {last_day:%Y-%m-%d}"),
    ]
    if invoice.billing_profile_name:
        rows.append(("Plan", invoice.billing_profile_name))
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(100, 7, "Description", border="B")
    pdf.cell(25, 7, "Quantity", border="B", align="R")
    pdf.cell(30, 7, "Unit price", border="B", align="R")
    pdf.cell(0, 7, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines.all():
        pdf.cell(100, 7, pdf_text(line.description)[:70])
        pdf.cell(25, 7, format(line.quantity.normalize(), "f"), align="R")
        pdf.cell(30, 7, "$" + Money(line.unit_price_micros).to_json(), align="R")
        pdf.cell(0, 7, pdf_dollars(line.amount_micros), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    totals = [("Subtotal", invoice.subtotal_micros, False)]
    if invoice.tax_code:
        rate = format((invoice.tax_rate * 100).normalize(), "f")
        totals.append((f"{invoice.tax_name} ({rate}%)", invoice.tax_micros, False))
    totals += [
        ("Total (USD)", invoice.total_micros, True),
        ("Paid", invoice.paid_micros, False),
        ("Amount due", invoice.amount_due_micros, True),
    ]
    if invoice.refunded_micros:
        totals.append(("Refunded", invoice.refunded_micros, False))
    for label, micros, bold in totals:
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        pdf.cell(155, 7, pdf_text(label), align="R")
        pdf.cell(0, 7, pdf_dollars(micros), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.memo:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, pdf_text(invoice.memo))
    descriptor = statement_line(partner)
    if descriptor:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, pdf_text(f"Card payments appear on your statement as {descriptor}."))
    return bytes(pdf.output())
