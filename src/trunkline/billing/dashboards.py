"""Platform staff's reads across partners: tenants' usage exposure and carriers' traffic.

Only staff may call these (anyone else gets NotFound, as for a foreign id). They read the
counters and call records the rating engine keeps, so the numbers on the pages are the
numbers invoices and limits work from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from trunkline.billing.cdrs import usage_cycle_start
from trunkline.billing.models import (
    BillingAccount,
    CallRecord,
    LedgerAccount,
    Plan,
    Provider,
    TenantUsage,
)
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


def _staff_only(actor: Actor) -> None:
    if not actor.is_staff:
        raise NotFound("no such page")


def _cycle_of_each_zone(now: datetime) -> Case | Value:
    """The current usage cycle's first day for each tenant, which depends on its zone:
    one CASE over the handful of zones in use, so the database can join the counters."""
    zones = Tenant.objects.order_by().values_list("timezone", flat=True).distinct()
    whens = [When(timezone=zone, then=Value(usage_cycle_start(zone, now))) for zone in zones]
    if not whens:
        return Value(None, output_field=DateField())
    return Case(*whens, default=Value(None), output_field=DateField())


def tenants_exposure(
    *,
    actor: Actor,
    search: str = "",
    status: str = "",
    now: datetime | None = None,
) -> QuerySet[Tenant]:
    """Every tenant of every partner with its current cycle's usage (`usage_calls`,
    `usage_local_seconds`, … `usage_wholesale_micros`) and its partner's billing state
    (`wallet_micros`, `plan`, `calls_blocked_at`)."""
    _staff_only(actor)
    now = now or timezone.now()
    usage = TenantUsage.objects.filter(tenant=OuterRef("pk"), cycle_start=OuterRef("usage_cycle"))
    wallet = LedgerAccount.objects.filter(
        partner=OuterRef("partner_id"), code=LedgerAccount.Code.WALLET
    )
    account = BillingAccount.objects.filter(partner=OuterRef("partner_id"))
    queryset = (
        Tenant.objects.select_related("partner")
        .annotate(usage_cycle=_cycle_of_each_zone(now))
        .annotate(
            **{
                f"usage_{name}": Coalesce(
                    Subquery(usage.values(name)[:1], output_field=BigIntegerField()),
                    Value(0),
                    output_field=BigIntegerField(),
                )
                for name in USAGE_FIELDS
            },
            wallet_micros=Coalesce(
                Subquery(wallet.values("balance_micros")[:1], output_field=BigIntegerField()),
                Value(0),
                output_field=BigIntegerField(),
            ),
            plan=Coalesce(
                Subquery(account.values("plan")[:1], output_field=CharField()),
                Value(Plan.STARTER),
                output_field=CharField(),
            ),
            calls_blocked_at=Subquery(
                account.values("calls_blocked_at")[:1], output_field=DateTimeField()
            ),
        )
    )
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(partner__company_name__icontains=search)
            | Q(id=search)
            | Q(partner_id=search)
            | Q(sip_prefix=search.lower())
        )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


@dataclass(frozen=True)
class ExposureTotals:
    tenants: int
    calls: int
    wholesale: Money


def tenants_exposure_totals(queryset: QuerySet[Tenant]) -> ExposureTotals:
    totals = queryset.aggregate(
        tenants=Count("id"),
        calls=Coalesce(Sum("usage_calls"), 0),
        wholesale=Coalesce(Sum("usage_wholesale_micros"), 0),
    )
    return ExposureTotals(
        tenants=totals["tenants"], calls=totals["calls"], wholesale=Money(totals["wholesale"])
    )


@dataclass(frozen=True)
class ProviderTraffic:
    provider: Provider | None  # None: calls no carrier carried (internal, or no route)
    calls: int
    answered: int
    billsec: int
    provider_cost: Money
    revenue: Money

    @property
    def minutes(self) -> float:
        return self.billsec / 60

    @property
    def margin(self) -> Money:
        return self.revenue - self.provider_cost

    @property
    def margin_percent(self) -> float | None:
        if self.revenue.micros == 0:
            return None
        return 100 * self.margin.micros / self.revenue.micros


def providers_traffic(*, actor: Actor, since: datetime, until: datetime) -> list[ProviderTraffic]:
    """Each carrier's calls started in [since, until): count, talk time, what it cost us
    and what partners were charged for them. One grouped query over the
    (provider, started_at) index; carriers without traffic are listed with zeros."""
    _staff_only(actor)
    providers = list(Provider.objects.order_by("name"))
    grouped = (
        CallRecord.objects.filter(
            Q(provider_id__in=[provider.id for provider in providers]) | Q(provider__isnull=True),
            started_at__gte=since,
            started_at__lt=until,
        )
        .order_by()
        .values("provider_id")
        .annotate(
            calls=Count("id"),
            answered=Count("id", filter=Q(billsec__gt=0)),
            billsec=Coalesce(Sum("billsec"), 0),
            cost=Coalesce(Sum("provider_cost_micros"), 0),
            revenue=Coalesce(Sum("wholesale_micros"), 0),
        )
    )
    by_provider = {row["provider_id"]: row for row in grouped}

    def traffic(provider: Provider | None) -> ProviderTraffic:
        row = by_provider.get(provider.id if provider else None, {})
        return ProviderTraffic(
            provider=provider,
            calls=row.get("calls", 0),
            answered=row.get("answered", 0),
            billsec=row.get("billsec", 0),
            provider_cost=Money(row.get("cost", 0)),
            revenue=Money(row.get("revenue", 0)),
        )

    rows = [traffic(provider) for provider in providers]
    if None in by_provider:
        rows.append(traffic(None))
    return rows


def provider_totals(rows: list[ProviderTraffic]) -> ProviderTraffic:
    return ProviderTraffic(
        provider=None,
        calls=sum(row.calls for row in rows),
        answered=sum(row.answered for row in rows),
        billsec=sum(row.billsec for row in rows),
        provider_cost=Money(sum(row.provider_cost.micros for row in rows)),
        revenue=Money(sum(row.revenue.micros for row in rows)),
    )


def month_start(today: date) -> date:
    return today.replace(day=1)
