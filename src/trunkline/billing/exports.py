"""CSV exports — the wallet history and the tenant invoices — one writer each for the API
and the portal, so both files match."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from trunkline.billing.models import Invoice, Posting
from trunkline.core.money import Money

CSV_COLUMNS = ["id", "created_at", "type", "amount", "balance_after", "memo", "reference"]
_FLUSH_AT = 65536


def wallet_transaction_row(posting) -> dict:
    """One posting from `selectors.wallet_transactions`, amounts as signed dollar strings."""
    return {
        "id": posting.id,
        "type": posting.type,
        "amount": Money(posting.amount_micros).to_json(),
        "balance_after": Money(posting.balance_after_micros).to_json(),
        "memo": posting.memo,
        "reference": posting.reference,
        "created_at": posting.created_at,
    }


def csv_response(chunks: Iterator[str], filename: str) -> StreamingHttpResponse:
    """A CSV export streamed as a download."""
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv(columns: list[str], rows: Iterator[dict]) -> Iterator[str]:
    """The CSV text of `rows` under a header of `columns`, in chunks for a streaming
    response; datetimes in UTC ISO 8601 with a `Z`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
        if buffer.tell() > _FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def wallet_transactions_csv(postings: QuerySet[Posting]) -> Iterator[str]:
    """The CSV text of `postings`, newest first."""
    ordered = postings.order_by("-created_at", "-id").iterator(chunk_size=2000)
    return _csv(CSV_COLUMNS, (wallet_transaction_row(posting) for posting in ordered))


INVOICE_CSV_COLUMNS = [
    "number",
    "id",
    "tenant_id",
    "tenant_name",
    "sip_prefix",
    "kind",
    "status",
    "period_start",
    "period_end",
    "issued_at",
    "due_date",
    "subtotal",
    "tax_code",
    "tax",
    "total",
    "paid",
    "refunded",
    "amount_due",
]


def _invoice_row(invoice: Invoice) -> dict:
    return {
        "number": invoice.display_number,
        "id": invoice.id,
        "tenant_id": invoice.tenant_id,
        "tenant_name": invoice.tenant.name,
        "sip_prefix": invoice.tenant.sip_prefix,
        "kind": invoice.kind,
        "status": invoice.status,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end - timedelta(days=1),  # the last day billed
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "subtotal": Money(invoice.subtotal_micros).to_json(),
        "tax_code": invoice.tax_code,
        "tax": Money(invoice.tax_micros).to_json(),
        "total": Money(invoice.total_micros).to_json(),
        "paid": Money(invoice.paid_micros).to_json(),
        "refunded": Money(invoice.refunded_micros).to_json(),
        "amount_due": Money(invoice.amount_due_micros).to_json(),
    }


def tenant_invoices_csv(invoices: QuerySet[Invoice]) -> Iterator[str]:
    """The CSV text of `invoices` (from `tenant_invoices.invoice_search`), newest first;
    `period_end` is the last day the invoice covers."""
    ordered = (
        invoices.select_related("tenant").order_by("-created_at", "-id").iterator(chunk_size=2000)
    )
    return _csv(INVOICE_CSV_COLUMNS, (_invoice_row(invoice) for invoice in ordered))
