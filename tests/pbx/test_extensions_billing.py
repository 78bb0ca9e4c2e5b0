"""Extensions cost the partner a monthly charge from its wallet (partner guide 004, "The
four platform tiers": Starter $3.00 an extension a month): the monthly run counts the
extensions the partner's tenants really have on the first of the month, through the pbx
app's own counter, not a figure given to it."""

from datetime import UTC, datetime

import pytest

from tests.billing.subscription_helpers import add_card, partner_actor
from tests.factories import actor_for_user, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.billing.subscription_cycle import subscriptions_bill
from trunkline.billing.subscriptions import subscription_activate
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.pbx.extensions import extension_create, extension_delete

pytestmark = pytest.mark.django_db


def at(month, day, hour=0):
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_the_monthly_run_charges_each_extension_that_exists_on_the_first(admin):
    partner = admin.partner
    add_card(partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(11, 5))
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("100.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key="fund",
        memo="funds",
    )
    actor = actor_for_user(admin)
    first, second = make_tenant(admin, name="One"), make_tenant(admin, name="Two")
    made = [
        extension_create(
            actor=actor, tenant=first, fields={"number": "101", "name": "A"}, now=at(11, 10)
        ),
        extension_create(
            actor=actor, tenant=first, fields={"number": "102", "name": "B"}, now=at(11, 11)
        ),
        extension_create(
            actor=actor, tenant=second, fields={"number": "101", "name": "C"}, now=at(11, 12)
        ),
    ]
    extension_delete(actor=actor, extension=made[1], now=at(11, 20))
    # Made after the first of December: billed from January, not in December's run.
    extension_create(
        actor=actor, tenant=second, fields={"number": "102", "name": "D"}, now=at(12, 1, 3)
    )
    before = ledger.wallet_balance(partner)

    subscriptions_bill(now=at(12, 1, 1))
    subscriptions_bill(now=at(12, 1, 2))  # a second run charges nothing twice

    charges = Posting.objects.filter(partner=partner, type=Posting.Type.EXTENSION_MONTHLY)
    assert charges.count() == 1
    assert before - ledger.wallet_balance(partner) == Money.parse("6.00")  # 2 × $3.00

    subscriptions_bill(now=at(1, 1, 1).replace(year=2027))
    assert charges.count() == 2
    assert before - ledger.wallet_balance(partner) == Money.parse("15.00")  # then 3 × $3.00
