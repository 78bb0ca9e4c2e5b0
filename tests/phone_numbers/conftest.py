import pytest

from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers.supply import supply_seed


@pytest.fixture
def inventory(db):
    """The simulated carrier's numbers in Arkansas and Missouri, and 700 toll-free."""
    return supply_seed(states=["AR", "MO"], per_exchange=2, toll_free=700)


@pytest.fixture
def fund():
    def credit(partner, dollars: str = "100.00") -> None:
        ledger.wallet_credit(
            partner=partner,
            amount=Money.parse(dollars),
            type=Posting.Type.MANUAL_ADJUSTMENT,
            actor=Actor.system(partner=partner),
            idempotency_key=f"test-fund:{partner.id}:{dollars}",
            memo="test funds",
        )

    return credit
