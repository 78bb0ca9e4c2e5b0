"""Posting money: the only code that changes a ledger balance.

`posting_create` takes lines that sum to zero, locks the accounts they touch (in id
order, so two postings never wait on each other in a cycle), moves the balances with
`UPDATE … SET balance = balance + n` and writes the entries with the balance after each.
A posting is identified by its idempotency key: creating it again returns the first one
and changes nothing, so a retried charge or top-up can never count twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from trunkline.billing.models import Entry, LedgerAccount, Posting
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, PaymentRequired, ValidationFailed
from trunkline.core.money import Money

Code = LedgerAccount.Code


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount: Money


def account_for(*, code: str, partner=None) -> LedgerAccount:
    """The account `code` of `partner` (or of the platform), created on first use."""
    try:
        with transaction.atomic():
            account, _ = LedgerAccount.objects.get_or_create(partner=partner, code=code)
    except IntegrityError:  # created by a concurrent first use
        account = LedgerAccount.objects.get(partner=partner, code=code)
    return account


def wallet_account(partner) -> LedgerAccount:
    return account_for(code=Code.WALLET, partner=partner)


def wallet_balance(partner) -> Money:
    balance = (
        LedgerAccount.objects.filter(partner=partner, code=Code.WALLET)
        .values_list("balance_micros", flat=True)
        .first()
    )
    return Money(balance or 0)


def _fingerprint(type: str, partner_id: str | None, lines: Iterable[Line]) -> list:
    return [type, partner_id, sorted((line.account.id, line.amount.micros) for line in lines)]


def posting_create(
    *,
    type: str,
    lines: list[Line],
    idempotency_key: str,
    partner=None,
    memo: str = "",
    reference: str = "",
    actor_label: str = "",
    reverses: Posting | None = None,
    floor: dict[str, int] | None = None,
    now: datetime | None = None,
) -> tuple[Posting, bool]:
    """Write one balanced posting; return it and whether it was new.

    `floor` maps account ids to the lowest balance (micros) the posting may leave them
    at; breaking it raises PaymentRequired and writes nothing. The same key with
    different lines is a Conflict: a key names exactly one movement of money.
    """
    if type not in Posting.Type.values:
        raise ValidationFailed(f"unknown posting type {type!r}", field="type")
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValidationFailed("an idempotency key of 1 to 200 characters", field="idempotency_key")
    if len(lines) < 2:
        raise ValidationFailed("a posting has at least two lines", field="lines")
    if any(line.amount.micros == 0 for line in lines):
        raise ValidationFailed("a posting line moves a non-zero amount", field="lines")
    if sum(line.amount.micros for line in lines) != 0:
        raise ValidationFailed("a posting's lines sum to zero", field="lines")
    if len({line.amount.currency for line in lines}) != 1:
        raise ValidationFailed("a posting is in one currency", field="lines")
    partner_id = partner.id if partner is not None else None

    with transaction.atomic():
        existing = Posting.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            try:
                with transaction.atomic():
                    posting = _write(
                        type=type,
                        lines=lines,
                        idempotency_key=idempotency_key,
                        partner=partner,
                        memo=memo,
                        reference=reference,
                        actor_label=actor_label,
                        reverses=reverses,
                        floor=floor or {},
                        now=now or timezone.now(),
                    )
                return posting, True
            except IntegrityError:
                # The key was taken by a concurrent posting that committed first.
                existing = Posting.objects.filter(idempotency_key=idempotency_key).first()
                if existing is None:
                    raise
        stored = [
            Line(account=entry.account, amount=Money(entry.amount_micros))
            for entry in existing.entries.select_related("account")
        ]
        if _fingerprint(existing.type, existing.partner_id, stored) != _fingerprint(
            type, partner_id, lines
        ):
            raise Conflict(
                "this idempotency key was used for a different posting", type="idempotency_conflict"
            )
        return existing, False


def _write(
    *, type, lines, idempotency_key, partner, memo, reference, actor_label, reverses, floor, now
) -> Posting:
    account_ids = sorted({line.account.id for line in lines})
    # Lock every touched account, always in the same order; SQLite's BEGIN IMMEDIATE
    # already serialises writers, PostgreSQL takes the row locks here.
    locked = {
        account.id: account
        for account in LedgerAccount.objects.select_for_update()
        .filter(id__in=account_ids)
        .order_by("id")
    }
    posting = Posting.objects.create(
        partner=partner,
        type=type,
        idempotency_key=idempotency_key,
        memo=memo[:500],
        reference=reference[:64],
        reverses=reverses,
        actor_label=actor_label[:255],
        created_at=now,
    )
    balances = {account_id: account.balance_micros for account_id, account in locked.items()}
    entries = []
    for line in lines:
        balances[line.account.id] += line.amount.micros
        entries.append(
            Entry(
                posting=posting,
                account_id=line.account.id,
                amount_micros=line.amount.micros,
                balance_after_micros=balances[line.account.id],
            )
        )
    for account_id, lowest in floor.items():
        if account_id in balances and balances[account_id] < lowest:
            raise PaymentRequired(
                f"the wallet balance of {Money(locked[account_id].balance_micros)} does not cover "
                "this charge"
            )
    Entry.objects.bulk_create(entries)
    for account_id in account_ids:
        delta = balances[account_id] - locked[account_id].balance_micros
        if delta:
            LedgerAccount.objects.filter(id=account_id).update(
                balance_micros=F("balance_micros") + delta
            )
    return posting


# --- the wallet's postings ------------------------------------------------------------

_COUNTER_ACCOUNT = {
    Posting.Type.TOP_UP: Code.PROCESSOR_CLEARING,
    Posting.Type.DID_MONTHLY_LOCAL: Code.REVENUE_DIDS,
    Posting.Type.DID_MONTHLY_TOLL_FREE: Code.REVENUE_DIDS,
    Posting.Type.DID_SETUP: Code.REVENUE_DIDS,
    Posting.Type.EXTENSION_MONTHLY: Code.REVENUE_EXTENSIONS,
    Posting.Type.USAGE_LOCAL: Code.REVENUE_USAGE,
    Posting.Type.USAGE_TOLL_FREE: Code.REVENUE_USAGE,
    Posting.Type.USAGE_INTERNATIONAL: Code.REVENUE_USAGE,
    Posting.Type.REFUND: Code.REFUNDS,
    Posting.Type.MANUAL_ADJUSTMENT: Code.ADJUSTMENTS,
    Posting.Type.SUBSCRIPTION_INVOICE: Code.REVENUE_SUBSCRIPTIONS,
}

CREDIT_TYPES = frozenset({Posting.Type.TOP_UP, Posting.Type.REFUND, Posting.Type.MANUAL_ADJUSTMENT})
# Tenant card payments never touch a wallet (billing/collection.py posts them).
TENANT_PAYMENT_TYPES = frozenset(
    {Posting.Type.TENANT_PAYMENT, Posting.Type.APPLICATION_FEE, Posting.Type.TENANT_REFUND}
)
WALLET_TYPES = frozenset(set(Posting.Type.values) - TENANT_PAYMENT_TYPES)
DEBIT_TYPES = WALLET_TYPES - {Posting.Type.TOP_UP, Posting.Type.REFUND}


def _wallet_posting(
    *, partner, type, signed: Money, actor: Actor, idempotency_key, memo, reference, floor, now
) -> tuple[Posting, bool]:
    wallet = wallet_account(partner)
    counter = account_for(code=_COUNTER_ACCOUNT[type])
    with transaction.atomic():
        posting, created = posting_create(
            type=type,
            lines=[Line(wallet, signed), Line(counter, -signed)],
            idempotency_key=idempotency_key,
            partner=partner,
            memo=memo,
            reference=reference,
            actor_label=actor.label,
            floor={wallet.id: floor} if floor is not None else None,
            now=now,
        )
        if created and type in (Posting.Type.MANUAL_ADJUSTMENT, Posting.Type.REFUND):
            audit_record(
                actor=actor,
                partner=partner,
                action=f"wallet.{type}",
                object_type="posting",
                object_id=posting.id,
                after={"amount": signed.to_json(), "memo": memo, "reference": reference},
            )
    return posting, created


def wallet_credit(
    *,
    partner,
    amount: Money,
    type: str,
    actor: Actor,
    idempotency_key: str,
    memo: str = "",
    reference: str = "",
    now: datetime | None = None,
) -> tuple[Posting, bool]:
    """Add `amount` to the wallet: a top-up, a refund or a manual credit."""
    if type not in CREDIT_TYPES:
        raise ValidationFailed(f"{type} does not credit the wallet", field="type")
    if amount.micros <= 0:
        raise ValidationFailed("the amount is positive", field="amount")
    return _wallet_posting(
        partner=partner,
        type=type,
        signed=amount,
        actor=actor,
        idempotency_key=idempotency_key,
        memo=memo,
        reference=reference,
        floor=None,
        now=now,
    )


def wallet_debit(
    *,
    partner,
    amount: Money,
    type: str,
    actor: Actor,
    idempotency_key: str,
    memo: str = "",
    reference: str = "",
    allow_negative: bool = False,
    now: datetime | None = None,
) -> tuple[Posting, bool]:
    """Take `amount` from the wallet.

    Purchases pass `allow_negative=False` and get PaymentRequired (402) when the balance
    does not cover them. Usage already consumed posts with `allow_negative=True`: the
    minutes were used, so the charge stands and the balance may go below zero.
    """
    if type not in DEBIT_TYPES:
        raise ValidationFailed(f"{type} does not debit the wallet", field="type")
    if amount.micros <= 0:
        raise ValidationFailed("the amount is positive", field="amount")
    return _wallet_posting(
        partner=partner,
        type=type,
        signed=-amount,
        actor=actor,
        idempotency_key=idempotency_key,
        memo=memo,
        reference=reference,
        floor=None if allow_negative else 0,
        now=now,
    )


def posting_reverse(*, posting: Posting, actor: Actor, memo: str = "") -> tuple[Posting, bool]:
    """Undo `posting` with a new posting of opposite lines (entries are never edited)."""
    lines = [
        Line(account=entry.account, amount=-Money(entry.amount_micros))
        for entry in posting.entries.select_related("account")
    ]
    return posting_create(
        type=posting.type,
        lines=lines,
        idempotency_key=f"reversal:{posting.id}",
        partner=posting.partner,
        memo=memo or f"Reversal of {posting.id}",
        reference=posting.reference,
        actor_label=actor.label,
        reverses=posting,
    )
