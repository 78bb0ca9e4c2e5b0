"""Ledger, usage and subscription reads, always through the caller's partner."""

from __future__ import annotations

from datetime import datetime

from django.db.models import BigIntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from trunkline.accounts.models import Partner
from trunkline.billing import ledger, subscriptions
from trunkline.billing.cdrs import usage_cycle_start
from trunkline.billing.models import Entry, LedgerAccount, Plan, Posting, TenantUsage
from trunkline.billing.payment_services import billing_account_for
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound
from trunkline.core.money import Money
from trunkline.tenants.models import Tenant

USAGE_FIELDS = (
    "calls",
    "local_seconds",
    "toll_free_seconds",
    "international_seconds",
    "wholesale_micros",
)


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


def partner_cycle_usage(*, actor: Actor, now: datetime) -> dict:
    """This cycle's metered usage summed over the partner's tenants: the counters rating
    keeps (`TenantUsage`), each tenant's cycle being the month in its own time zone."""
    partner = _partner_of(actor)
    zones = (
        Tenant.objects.filter(partner=partner).order_by().values_list("timezone", flat=True)
    ).distinct()
    current = Q(pk__in=[])
    for zone in zones:
        current |= Q(tenant__timezone=zone, cycle_start=usage_cycle_start(zone, now))
    totals = TenantUsage.objects.filter(current, partner=partner).aggregate(
        **{name: Coalesce(Sum(name), 0) for name in USAGE_FIELDS}
    )
    return {**totals, "wholesale": Money(totals["wholesale_micros"])}


def subscription_summary(*, actor: Actor, now: datetime) -> dict:
    """What `GET /v1/subscription` reports, for the portal: the snapshot plus the rates in
    force, the trial's days left and the wallet balance."""
    partner = Partner.objects.get(pk=_partner_of(actor).pk)
    account = billing_account_for(partner)
    return {
        **subscriptions.subscription_snapshot(partner=partner, account=account, now=now),
        "plan_label": Plan(account.plan).label,
        "pending_plan_label": (Plan(account.pending_plan).label if account.pending_plan else ""),
        "trial_ends_at": partner.trial_ends_at,
        "trial_days_left": partner.trial_days_left(now),
        "current_period_start": account.current_period_start,
        "current_period_end": account.current_period_end,
        "past_due_since": account.past_due_since,
        "rates": subscriptions.plan_price_at(partner=partner, plan=account.plan, at=now),
        "wallet_balance": ledger.wallet_balance(partner),
    }


def plan_choices(*, actor: Actor, now: datetime) -> list[dict]:
    """The self-service tiers with their prices in force, for choosing a plan."""
    partner = _partner_of(actor)
    return [
        {
            "plan": plan,
            "label": Plan(plan).label,
            "price": subscriptions.plan_price_at(partner=partner, plan=plan, at=now),
        }
        for plan in subscriptions.SELF_SERVICE_PLANS
    ]
