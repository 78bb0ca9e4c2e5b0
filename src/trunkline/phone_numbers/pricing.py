"""What a number costs a partner: the monthly and per-minute prices of its tier (local
and toll-free priced apart, as the partner guide's tier table has them) and the one-time
setup fee. A block loaded with its own prices overrides the monthly and setup fee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trunkline.billing.models import PlanPeriod
from trunkline.billing.subscriptions import plan_price_at
from trunkline.core.errors import Conflict
from trunkline.core.money import Money
from trunkline.phone_numbers.carrier import Offer
from trunkline.phone_numbers.models import NumberKind

SETUP_FEE = Money(1_000_000)  # $1.00 a number, local or toll-free (the partner guide)


@dataclass(frozen=True)
class NumberPrice:
    monthly: Money
    setup: Money
    per_minute: Money

    def to_json(self) -> dict:
        return {
            "monthly": self.monthly.to_json(),
            "setup_fee": self.setup.to_json(),
            "per_minute": self.per_minute.to_json(),
        }


def partner_plan_at(partner, at: datetime) -> str:
    """The tier in force for the partner at `at` (Starter during a trial)."""
    period = (
        PlanPeriod.objects.filter(partner=partner, starts_at__lte=at)
        .order_by("-starts_at")
        .values_list("plan", "ends_at")
        .first()
    )
    if period is None or (period[1] is not None and period[1] <= at):
        return "starter"
    return period[0]


def number_price(*, partner, kind: str, at: datetime, offer: Offer | None = None) -> NumberPrice:
    plan = partner_plan_at(partner, at)
    price = plan_price_at(partner=partner, plan=plan, at=at)
    if price is None:
        raise Conflict(f"no {plan} price list is in force; contact support", type="no_price")
    toll_free = kind == NumberKind.TOLL_FREE
    monthly = Money(
        price.did_toll_free_monthly_micros if toll_free else price.did_local_monthly_micros
    )
    per_minute = Money(price.minute_toll_free_micros if toll_free else price.minute_local_micros)
    setup = SETUP_FEE
    if offer is not None:
        if offer.monthly_micros is not None:
            monthly = Money(offer.monthly_micros)
        if offer.setup_micros is not None:
            setup = Money(offer.setup_micros)
    return NumberPrice(monthly=monthly, setup=setup, per_minute=per_minute)
