"""Loading prices from the database into the rating engine.

A `RateBook` reads the rate tables, tier prices and partners' plan history once and
builds a `rating.Rater`; an import of any size then rates without another query for
prices. Rows are effective-dated, so one book rates calls from any date correctly.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime

from trunkline.billing.models import (
    InboundRate,
    OutboundRate,
    Plan,
    PlanPeriod,
    PlanPrice,
    Provider,
)
from trunkline.billing.rating import FOREVER, PlanRates, PrefixTable, Rate, Rater, RatingError


def _seconds(moment: datetime | None, default: int) -> int:
    return int(moment.timestamp()) if moment is not None else default


def _rate(row) -> Rate:
    return Rate(
        prefix=getattr(row, "prefix", ""),
        per_minute=row.per_minute_micros,
        connection=row.connection_micros,
        first=row.first_increment,
        step=row.step_increment,
        starts=_seconds(row.effective_from, 0),
        ends=_seconds(row.effective_to, FOREVER),
        id=row.id,
    )


_OUTBOUND_FIELDS = (
    "prefix",
    "per_minute_micros",
    "connection_micros",
    "first_increment",
    "step_increment",
    "effective_from",
    "effective_to",
    "id",
)


def _outbound_rates(rows) -> PrefixTable:
    """A prefix table from an OutboundRate queryset, read as tuples: the platform's sell
    table alone has tens of thousands of rows, too many to build model instances for."""
    return PrefixTable(
        Rate(
            prefix,
            per_minute,
            connection,
            first,
            step,
            _seconds(effective_from, 0),
            _seconds(effective_to, FOREVER),
            rate_id,
        )
        for prefix, per_minute, connection, first, step, effective_from, effective_to, rate_id in (
            rows.values_list(*_OUTBOUND_FIELDS).iterator(chunk_size=5000)
        )
    )


class RateBook:
    def __init__(self, partner_ids: list[str] | None = None):
        self.provider = Provider.objects.filter(is_default=True, active=True).first()
        self.international = _outbound_rates(OutboundRate.objects.filter(provider__isnull=True))
        if self.provider is not None:
            self.provider_outbound = _outbound_rates(
                OutboundRate.objects.filter(provider=self.provider)
            )
            inbound: dict[str, list[Rate]] = {}
            for row in InboundRate.objects.filter(provider=self.provider):
                inbound.setdefault(row.did_class, []).append(_rate(row))
        else:
            self.provider_outbound, inbound = PrefixTable(()), {}
        self._inbound = inbound
        self._tier_prices = self._prices(PlanPrice.objects.filter(partner__isnull=True))
        periods = PlanPeriod.objects.all()
        custom = PlanPrice.objects.filter(partner__isnull=False)
        if partner_ids is not None:
            periods = periods.filter(partner_id__in=partner_ids)
            custom = custom.filter(partner_id__in=partner_ids)
        self._periods: dict[str, list[tuple[int, int, str]]] = {}
        for period in periods.order_by("starts_at"):
            self._periods.setdefault(period.partner_id, []).append(
                (_seconds(period.starts_at, 0), _seconds(period.ends_at, FOREVER), period.plan)
            )
        self._custom: dict[str, dict] = {}
        for row in custom:
            self._custom.setdefault(row.partner_id, []).append(row)
        self._custom = {key: self._prices(rows) for key, rows in self._custom.items()}
        # partner → (segment starts, PlanRates or the reason none applies), built on use
        self._timelines: dict[str, tuple[list[int], list[PlanRates | str]]] = {}

    @staticmethod
    def _prices(rows) -> dict[str, tuple[list[int], list[PlanRates]]]:
        """plan → (start times ascending, prices) for a bisect by call time."""
        by_plan: dict[str, list] = {}
        for row in rows:
            by_plan.setdefault(row.plan, []).append(row)
        table = {}
        for plan, group in by_plan.items():
            group.sort(key=lambda row: row.effective_from)
            table[plan] = (
                [_seconds(row.effective_from, 0) for row in group],
                [
                    PlanRates(
                        local_per_minute=row.minute_local_micros,
                        toll_free_per_minute=row.minute_toll_free_micros,
                        first=row.first_increment,
                        step=row.step_increment,
                    )
                    for row in group
                ],
            )
        return table

    def plan_at(self, partner_id: str, at: int) -> str:
        for starts, ends, plan in self._periods.get(partner_id, ()):
            if starts <= at < ends:
                return plan
        return Plan.STARTER

    def plan_rates(self, partner_id: str, at: int) -> PlanRates:
        """The partner's minute prices in force at `at` (POSIX seconds)."""
        timeline = self._timelines.get(partner_id)
        if timeline is None:
            timeline = self._timelines[partner_id] = self._timeline(partner_id)
        starts, prices = timeline
        price = prices[bisect_right(starts, at) - 1]
        if isinstance(price, str):
            raise RatingError(price)
        return price

    def _timeline(self, partner_id: str) -> tuple[list[int], list[PlanRates | str]]:
        """The partner's prices as segments: the answer of `_plan_rates_at` changes only
        where a plan period starts or ends or a price row takes effect, so it is asked once
        per segment and a call's price is then one bisect."""
        moments = {
            moment
            for starts, ends, _ in self._periods.get(partner_id, ())
            for moment in (starts, ends)
        }
        for table in (self._custom.get(partner_id, {}), self._tier_prices):
            for starts, _ in table.values():
                moments.update(starts)
        moments.discard(FOREVER)
        boundaries = sorted(moments)
        starts = [-FOREVER, *boundaries]
        # One moment inside each segment: before the first boundary, then each boundary.
        probes = [boundaries[0] - 1 if boundaries else 0, *boundaries]
        prices: list[PlanRates | str] = []
        for probe in probes:
            try:
                prices.append(self._plan_rates_at(partner_id, probe))
            except RatingError as error:
                prices.append(str(error))
        return starts, prices

    def _plan_rates_at(self, partner_id: str, at: int) -> PlanRates:
        plan = self.plan_at(partner_id, at)
        for table in (self._custom.get(partner_id, {}), self._tier_prices):
            entry = table.get(plan)
            if entry is None:
                continue
            starts, prices = entry
            index = bisect_right(starts, at) - 1
            if index >= 0:
                return prices[index]
        raise RatingError(f"no {plan} prices are in force for this partner at the call's time")

    def inbound_rate(self, did_class: str, at: int) -> Rate | None:
        for rate in self._inbound.get(did_class, ()):
            if rate.starts <= at < rate.ends:
                return rate
        return None

    def rater(self) -> Rater:
        return Rater(
            plan_rates=self.plan_rates,
            international=self.international,
            provider_outbound=self.provider_outbound,
            provider_inbound=self.inbound_rate,
        )
