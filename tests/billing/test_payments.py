"""The simulated card processor: the embedded default answers like a processor does for
Stripe's documented test card numbers, with no network."""

import pytest

from trunkline.billing.payments import PaymentError, SimulatedProcessor, processor
from trunkline.core.money import Money

AMOUNT = Money.parse("50.00")


def charge(card_id, key="k1"):
    return SimulatedProcessor().charge(
        customer_id="cus_sim_x",
        card_id=card_id,
        amount=AMOUNT,
        description="top-up",
        idempotency_key=key,
        off_session=False,
    )


def attach(token):
    return SimulatedProcessor().card_attach(customer_id="cus_sim_x", token=token)


def test_a_good_card_charges():
    card = attach("4242 4242 4242 4242")
    assert (card.brand, card.last4) == ("visa", "4242")
    result = charge(card.id)
    assert (result.status, result.amount) == ("succeeded", AMOUNT)
    assert charge(card.id).id == result.id  # same idempotency key, same charge
    assert charge(card.id, key="k2").id != result.id


@pytest.mark.parametrize(
    ("number", "status", "message"),
    [
        ("4000000000009995", "declined", "insufficient funds"),
        ("4000000000000341", "declined", "card declined"),
        ("4000002500003155", "requires_action", "confirm"),
    ],
)
def test_cards_that_fail_on_charge(number, status, message):
    result = charge(attach(number).id)
    assert result.status == status and message in result.message


@pytest.mark.parametrize("token", ["4000000000000002", "tok_chargeDeclined", "1234", ""])
def test_cards_refused_at_attach(token):
    with pytest.raises(PaymentError):
        attach(token)


def test_unknown_cards_and_amounts():
    with pytest.raises(PaymentError):
        charge("pm_other_123")
    with pytest.raises(PaymentError):
        SimulatedProcessor().charge(
            customer_id="c",
            card_id=attach("tok_visa").id,
            amount=Money(0),
            description="",
            idempotency_key="k",
            off_session=True,
        )


def test_the_default_is_the_simulation(settings):
    assert processor().name == "simulated"
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "carrier-pigeon"
    with pytest.raises(PaymentError):
        processor()
