"""Two processes that both see a low wallet recharge it once: the hourly claim is a
conditional UPDATE, so only one of them goes on to charge the card (PostgreSQL)."""

from datetime import UTC, datetime

import pytest
from django.conf import settings

from tests.concurrency import together
from tests.factories import make_partner
from trunkline.billing import ledger, payment_services
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.models import AuditEntry
from trunkline.core.money import Money

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_ten_concurrent_checks_recharge_once():
    partner, _ = make_partner()
    actor = Actor.system(partner=partner)
    payment_services.payment_method_add(partner=partner, actor=actor, token="4242424242424242")
    payment_services.wallet_auto_recharge_update(
        partner=partner,
        actor=actor,
        enabled=True,
        threshold=Money.parse("50"),
        amount=Money.parse("100"),
    )
    now = datetime(2026, 11, 3, 12, tzinfo=UTC)
    results = together(
        lambda slot: payment_services.wallet_auto_recharge_check(partner=partner, now=now), 10
    )
    assert sum(result is not None for result in results) == 1
    assert ledger.wallet_balance(partner) == Money.parse("100")
    assert Posting.objects.filter(partner=partner, type="top_up").count() == 1
    charges = AuditEntry.objects.filter(partner=partner, action="card.charge_succeeded")
    assert charges.count() == 1
