"""Prices loaded from the database (`billing.rates.RateBook`): a call is priced at the tier
the partner was on when it started, at that tier's price in force then (partner guide
`004_*.txt`, "Rate changes"), and an Enterprise partner's own price list wins."""

from datetime import UTC, datetime

import pytest

from tests.factories import make_partner
from trunkline.billing.models import PlanPeriod, PlanPrice
from trunkline.billing.rates import RateBook
from trunkline.billing.rating import RatingError

pytestmark = pytest.mark.django_db


def _at(*day) -> int:
    return int(datetime(*day, tzinfo=UTC).timestamp())


def _price(plan, since, local, toll_free, partner=None, first=6):
    return PlanPrice.objects.create(
        plan=plan,
        partner=partner,
        effective_from=since,
        monthly_fee_micros=0,
        extension_monthly_micros=0,
        did_local_monthly_micros=0,
        did_toll_free_monthly_micros=0,
        minute_local_micros=local,
        minute_toll_free_micros=toll_free,
        first_increment=first,
        step_increment=first,
    )


def test_tier_history_and_price_changes():
    partner, _ = make_partner()
    feb, mar, apr = (datetime(2027, month, 1, tzinfo=UTC) for month in (2, 3, 4))
    PlanPeriod.objects.create(partner=partner, plan="business", starts_at=feb, ends_at=apr)
    PlanPeriod.objects.create(partner=partner, plan="enterprise", starts_at=apr)
    _price("business", mar, 13_000, 16_000)  # the Business tier's price cut in March
    _price("enterprise", apr, 9_000, 11_000, partner=partner, first=1)
    book = RateBook()

    def local(at):
        return book.plan_rates(partner.id, at).local_per_minute

    assert local(_at(2027, 1, 31, 23, 59, 59)) == 20_000  # Starter until February
    assert local(_at(2027, 2, 1)) == 14_000  # Business list price
    assert local(_at(2027, 2, 28, 23, 59, 59)) == 14_000
    assert local(_at(2027, 3, 1)) == 13_000  # Business after the price cut
    enterprise = book.plan_rates(partner.id, _at(2027, 4, 1))
    assert (enterprise.local_per_minute, enterprise.first) == (9_000, 1)
    assert local(_at(2030, 1, 1)) == 9_000


def test_a_tier_without_prices_in_force_cannot_be_rated():
    partner, _ = make_partner()
    PlanPeriod.objects.create(
        partner=partner, plan="enterprise", starts_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    _price("enterprise", datetime(2027, 6, 1, tzinfo=UTC), 9_000, 11_000, partner=partner)
    book = RateBook()
    assert book.plan_rates(partner.id, _at(2026, 12, 31)).local_per_minute == 20_000
    with pytest.raises(RatingError, match="no enterprise prices"):
        book.plan_rates(partner.id, _at(2027, 3, 1))
    assert book.plan_rates(partner.id, _at(2027, 6, 1)).local_per_minute == 9_000
