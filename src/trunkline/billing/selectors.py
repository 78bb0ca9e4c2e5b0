"""Ledger reads, always through the caller's partner."""

from __future__ import annotations

from datetime import datetime

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery

from trunkline.billing.models import Entry, LedgerAccount, Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound


def _partner_of(actor: Actor):
    if actor.partner is None:
        raise NotFound("no wallet: the caller is not a partner")
    return actor.partner


def wallet_transactions(
    *,
    actor: Actor,
    types: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Posting]:
    """The partner's wallet postings, each with its signed amount and balance after."""
    partner = _partner_of(actor)
    wallet_entries = Entry.objects.filter(
        posting=OuterRef("pk"),
        account__partner=partner,
        account__code=LedgerAccount.Code.WALLET,
    )
    queryset = Posting.objects.filter(
        partner=partner,
        entries__account__partner=partner,
        entries__account__code=LedgerAccount.Code.WALLET,
    ).annotate(
        amount_micros=Subquery(
            wallet_entries.values("amount_micros")[:1], output_field=BigIntegerField()
        ),
        balance_after_micros=Subquery(
            wallet_entries.values("balance_after_micros")[:1], output_field=BigIntegerField()
        ),
    )
    if types:
        queryset = queryset.filter(type__in=types)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset
