"""The wallet history as CSV, one writer for the API and the portal so both files match."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import QuerySet

from trunkline.billing.models import Posting
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


def wallet_transactions_csv(postings: QuerySet[Posting]) -> Iterator[str]:
    """The CSV text of `postings`, newest first, in chunks for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for posting in postings.order_by("-created_at", "-id").iterator(chunk_size=2000):
        row = wallet_transaction_row(posting)
        row["created_at"] = row["created_at"].isoformat().replace("+00:00", "Z")
        writer.writerow([row[column] for column in CSV_COLUMNS])
        if buffer.tell() > _FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
