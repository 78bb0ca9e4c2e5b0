"""`/v1/wallet`: the partner's balance and its transaction history (JSON and CSV)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from ninja import Query, Router, Schema
from pydantic import Field, field_validator

from trunkline.accounts.api_auth import scope
from trunkline.billing import ledger, selectors
from trunkline.billing.exports import (
    csv_response,
    wallet_transaction_row,
    wallet_transactions_csv,
)
from trunkline.billing.schemas import WalletOut, WalletTransactionOut
from trunkline.core.errors import ValidationFailed
from trunkline.core.pagination import paginate
from trunkline.core.schemas import ListOut

router = Router(tags=["Billing"])


class HistoryQuery(Schema):
    type: str | None = Field(
        default=None, max_length=500, description="comma-separated transaction types"
    )
    since: str | None = Field(
        default=None, alias="from", max_length=40, description="a date or an ISO-8601 time"
    )
    until: str | None = Field(
        default=None,
        alias="to",
        max_length=40,
        description="exclusive; a date includes that whole day",
    )

    @field_validator("type")
    @classmethod
    def _known_types(cls, value: str | None) -> str | None:
        if value:
            unknown = set(value.split(",")) - ledger.WALLET_TYPES
            if unknown:
                raise ValueError(f"unknown type {sorted(unknown)[0]!r}")
        return value

    def types(self) -> list[str] | None:
        return self.type.split(",") if self.type else None

    def window(self) -> tuple[datetime | None, datetime | None]:
        return _moment(self.since, "from", end=False), _moment(self.until, "to", end=True)


def _moment(value: str | None, field: str, *, end: bool) -> datetime | None:
    """A bound of the window: a whole day (`2026-11-01`) or an instant with its offset."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{field} is a date or an ISO-8601 time", field=field) from None
    if moment.tzinfo is None:
        raise ValidationFailed(f"{field} needs a UTC offset (…Z)", field=field)
    return moment


class HistoryPageQuery(HistoryQuery):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


@router.get("/wallet", response=WalletOut, auth=scope("billing:read"))
def get_wallet(request):
    balance = ledger.wallet_balance(request.actor.partner)
    return {"balance": balance.to_json(), "currency": balance.currency}


def _history(request, query: HistoryQuery):
    since, until = query.window()
    return selectors.wallet_transactions(
        actor=request.actor, types=query.types(), since=since, until=until
    )


@router.get(
    "/wallet/transactions",
    response=ListOut[WalletTransactionOut],
    auth=scope("billing:read"),
)
def list_wallet_transactions(request, query: Query[HistoryPageQuery]):
    page = paginate(
        _history(request, query), limit=query.limit, cursor=query.cursor, descending=True
    )
    return {
        "data": [wallet_transaction_row(posting) for posting in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/wallet/transactions.csv",
    auth=scope("billing:read"),
    openapi_extra={
        "responses": {200: {"description": "CSV", "content": {"text/csv": {}}}},
    },
)
def export_wallet_transactions(request, query: Query[HistoryQuery]):
    """Every matching transaction, newest first, streamed as CSV."""
    return csv_response(
        wallet_transactions_csv(_history(request, query)), "wallet-transactions.csv"
    )
