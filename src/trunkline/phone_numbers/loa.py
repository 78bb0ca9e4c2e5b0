"""The Letter of Authorization a customer signs, filled in from a port request (the
partner guide's Appendix B template) under the partner's brand name."""

from __future__ import annotations

from django.utils import timezone
from fpdf import FPDF

from trunkline.core.email import brand_name
from trunkline.phone_numbers.models import PortRequest


def _text(value: str) -> str:
    # The built-in fonts speak Latin-1; anything else is shown as "?".
    replaced = value.replace("–", "-").replace("—", "-").replace("’", "'")
    return replaced.encode("latin-1", "replace").decode("latin-1")


def loa_pdf(port: PortRequest, *, now=None) -> bytes:
    brand = brand_name(port.partner)
    today = timezone.localdate(now or timezone.now())
    pdf = FPDF(format="Letter")
    pdf.set_title(f"LOA {port.id}")
    pdf.set_author(_text(brand))
    pdf.set_creation_date(port.created_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 8, "LETTER OF AUTHORIZATION (LOA)", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, "FOR PORTING TELEPHONE NUMBERS", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 11)

    def para(text: str, gap: float = 3) -> None:
        pdf.multi_cell(0, 6, _text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(f"Date: {today:%B %d, %Y}")
    business = port.business_name or port.account_holder
    para(
        f"I, {port.account_holder}, authorized representative of {business}, hereby "
        f"authorize {brand} and its underlying telecommunications partner to act as my agent "
        f"in transferring the following telephone number(s) from {port.current_carrier} to "
        "their service:"
    )
    pdf.set_font("Courier", "", 11)
    for number in port.numbers:
        pdf.cell(0, 6, number, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 11)
    para("The service address for these numbers is:", 1)
    street = ", ".join(filter(None, [port.service_street, port.service_street2]))
    para(f"{street}\n{port.service_city}, {port.service_state} {port.service_postal_code}")
    para(f"The current carrier account number is: {port.account_number}")
    para("I confirm I am authorized to make this change.", 8)
    for label in ("Signature", "Name (printed)", "Title", "Date"):
        pdf.cell(0, 10, f"{label}: ______________________________", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 8)
    para(f"Port request {port.id}. The signature must be the account holder's own.")
    return bytes(pdf.output())
