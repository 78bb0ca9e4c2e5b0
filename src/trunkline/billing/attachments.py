"""The invoice PDFs billing emails carry, drawn when the email is delivered (core.email).

Each renderer reads the invoice as it is at send time; an invoice deleted since the email
was queued gives None, and the email goes without it.
"""

from __future__ import annotations

TENANT_INVOICE_PDF = "tenant_invoice_pdf"
PLATFORM_INVOICE_PDF = "platform_invoice_pdf"
PDF = "application/pdf"


def tenant_invoice_attachment(invoice_id: str) -> tuple[str, bytes, str] | None:
    from trunkline.billing.models import Invoice
    from trunkline.billing.tenant_invoice_pdf import tenant_invoice_pdf

    invoice = Invoice.objects.select_related("tenant__partner").filter(pk=invoice_id).first()
    if invoice is None:
        return None
    return f"Invoice-{invoice.display_number}.pdf", tenant_invoice_pdf(invoice), PDF


def platform_invoice_attachment(invoice_id: str) -> tuple[str, bytes, str] | None:
    from trunkline.billing.invoices_platform import invoice_pdf
    from trunkline.billing.models import PlatformInvoice

    invoice = PlatformInvoice.objects.select_related("partner").filter(pk=invoice_id).first()
    if invoice is None:
        return None
    return f"Invoice-{invoice.display_number}.pdf", invoice_pdf(invoice), PDF


def attachment_renderers_register_billing() -> None:
    from trunkline.core.email import attachment_renderers_register

    attachment_renderers_register(TENANT_INVOICE_PDF, tenant_invoice_attachment)
    attachment_renderers_register(PLATFORM_INVOICE_PDF, platform_invoice_attachment)
