"""Wallet and ledger shapes of the `/v1` API. Money is a decimal string of dollars."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema


class WalletOut(Schema):
    balance: str
    currency: str


class WalletTransactionOut(Schema):
    id: str
    type: str
    amount: str  # signed: credits positive, debits negative
    balance_after: str
    memo: str
    reference: str
    created_at: datetime
