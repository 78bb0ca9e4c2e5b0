"""Settings → Billing → Tenant Invoices: the filters and the modals' inputs.

As elsewhere in the portal, amounts and lines are passed to the invoice services as typed;
their messages (an overpayment, a refund above what was paid, a bad price) are the ones
shown.
"""

from __future__ import annotations

from django import forms

from trunkline.billing.models import Invoice

LINE_FIELDS = ("description", "quantity", "unit_price")
BLANK_LINES = 3  # rows the New Invoice form offers beyond those already filled


def _date(label: str) -> forms.DateField:
    return forms.DateField(
        label=label, required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class TenantInvoiceFilterForm(forms.Form):
    service_error_fields = {"issued_from": "date_from", "issued_to": "date_to"}

    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "All"), *Invoice.Status.choices]
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Invoice #, tenant or SIP prefix"}
        ),
    )
    date_from = _date("Issued from")
    date_to = _date("Issued to")
    tenant = forms.ChoiceField(label="Tenant", required=False)

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [("", "All tenants")] + [
            (tenant.id, tenant.name) for tenant in tenants
        ]

    def query(self) -> dict:
        """The filters as `GET /v1/invoices` names them."""
        data = self.cleaned_data
        return {
            "tenant_id": data["tenant"] or None,
            "status": data["status"] or None,
            "search": data["q"].strip() or None,
            "issued_from": data["date_from"],
            "issued_to": data["date_to"],
        }


class InvoicePaymentForm(forms.Form):
    """Mark as Paid: blank is the whole amount due."""

    amount = forms.CharField(
        label="Amount received (USD)",
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "Check #1042"}),
    )

    def amount_value(self) -> str | None:
        text = self.cleaned_data["amount"].strip().removeprefix("$").replace(",", "").strip()
        return text or None


class InvoiceRefundForm(InvoicePaymentForm):
    """Refund: blank is everything paid; the box is the confirmation money goes back."""

    confirm = forms.BooleanField(required=False)
    destination = forms.ChoiceField(
        label="Give it back as",
        required=False,
        initial="credit",
        choices=(
            ("credit", "Account credit, taken off the tenant's next invoices"),
            ("card", "A refund to the card it was paid with"),
            ("external", "Money I return myself (cheque, transfer)"),
        ),
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, tenant_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].label = "Amount to refund (USD)"
        self.fields["note"].widget.attrs["placeholder"] = "Service credit for the outage"
        self.fields["confirm"].label = f"Confirm: give this amount back to {tenant_name}"

    def clean_confirm(self) -> bool:
        # Deliberate friction before money goes back, not a business rule.
        if not self.cleaned_data["confirm"]:
            raise forms.ValidationError("Tick Confirm to refund.")
        return True


class InvoiceNewForm(forms.Form):
    """New (off-cycle) invoice: the tenant and a memo; the lines are rows beside them."""

    service_error_fields = {"tenant_id": "tenant"}

    tenant = forms.ChoiceField(label="Tenant", required=False)
    memo = forms.CharField(
        label="Memo (optional)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Shown on the invoice"}),
    )

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [("", "Choose a tenant")] + [
            (tenant.id, tenant.name) for tenant in tenants
        ]


def line_rows(post) -> list[dict]:
    """The New Invoice rows as typed (posted as repeated description / quantity /
    unit_price inputs), with room for a few more."""
    columns = [post.getlist(name) for name in LINE_FIELDS] if post else [[], [], []]
    count = max(len(column) for column in columns)
    rows = [
        {
            name: (column[index] if index < len(column) else "")[:400]
            for name, column in zip(LINE_FIELDS, columns, strict=True)
        }
        for index in range(count)
    ]
    filled = [row for row in rows if any(value.strip() for value in row.values())]
    return filled + [dict.fromkeys(LINE_FIELDS, "") for _ in range(BLANK_LINES)]


def line_inputs(rows: list[dict]) -> tuple[list[dict], list[int]]:
    """The rows that were filled in, as the service takes lines, and where each came from.
    A blank quantity is one; a quantity that is not a whole number goes as typed, for the
    service to refuse."""
    lines, positions = [], []
    for index, row in enumerate(rows):
        if not any(value.strip() for value in row.values()):
            continue
        line = {"description": row["description"], "unit_price": row["unit_price"].strip()}
        line["unit_price"] = line["unit_price"].removeprefix("$").replace(",", "")
        quantity = row["quantity"].strip().replace(",", "")
        if quantity:
            line["quantity"] = int(quantity) if quantity.isdigit() else quantity
        lines.append(line)
        positions.append(index)
    return lines, positions
