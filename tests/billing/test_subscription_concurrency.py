"""Invoice numbers stay sequential, without gaps or repeats, when many partners are billed
at once on PostgreSQL."""

import pytest
from django.conf import settings

from tests.billing.subscription_helpers import add_card, at, partner_actor
from tests.concurrency import together
from tests.factories import make_partner
from trunkline.billing.models import PlatformInvoice
from trunkline.billing.subscriptions import subscription_activate

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_twenty_activations_at_once_take_twenty_consecutive_numbers():
    admins = []
    for _ in range(20):
        partner, admin = make_partner()
        add_card(partner)
        admins.append(admin)

    def work(slot: int):
        return subscription_activate(
            actor=partner_actor(admins[slot]), plan="starter", now=at(2026, 11, 15)
        ).number

    numbers = sorted(together(work, 20))
    assert numbers == list(range(numbers[0], numbers[0] + 20))
    assert PlatformInvoice.objects.count() == 20
