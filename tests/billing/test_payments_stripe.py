"""The Stripe processor, through Stripe's own SDK, against a Stripe-shaped server on
loopback (tests/billing/fake_stripe.py)."""

import pytest

from tests.billing.fake_stripe import FakeStripe, serve
from trunkline.billing import ledger, payment_services
from trunkline.billing.payments import PaymentError, processor
from trunkline.billing.stripe_processor import StripeProcessor
from trunkline.core.actors import Actor
from trunkline.core.money import Money

FIFTY = Money.parse("50.00")


@pytest.fixture
def fake():
    fake = FakeStripe()
    server, base = serve(fake)
    fake.base = base
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def stripe_settings(settings, fake):
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_API_BASE = fake.base
    return settings


@pytest.fixture
def gateway(stripe_settings):
    return processor()


def test_the_setting_selects_stripe(gateway):
    assert isinstance(gateway, StripeProcessor)


def test_without_a_secret_key_stripe_refuses_to_start(settings):
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "stripe"
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(PaymentError) as raised:
        processor()
    assert raised.value.code == "configuration"


def test_customer_card_and_charge(gateway, fake):
    customer = gateway.customer_create(partner_id="ptr_1", email="a@b.example", name="Acme")
    assert fake.customers[customer]["metadata"] == {"partner_id": "ptr_1"}
    card = gateway.card_attach(customer_id=customer, token="pm_card_visa")
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    assert card.id.startswith("pm_") and card.id != "pm_card_visa"

    charge = gateway.charge(
        customer_id=customer,
        card_id=card.id,
        amount=FIFTY,
        description="Wallet top-up",
        idempotency_key="ptr_1:top_up:k1",
        off_session=False,
    )
    assert (charge.status, charge.amount) == ("succeeded", FIFTY)
    assert charge.id.startswith("pi_")
    sent = fake.posted("/v1/payment_intents")[-1]
    assert sent.form["amount"] == "5000" and sent.form["currency"] == "usd"
    assert sent.form["confirm"] == "true" and "off_session" not in sent.form
    assert sent.headers["idempotency-key"] == "ptr_1:top_up:k1"

    again = gateway.charge(
        customer_id=customer,
        card_id=card.id,
        amount=FIFTY,
        description="Wallet top-up",
        idempotency_key="ptr_1:top_up:k1",
        off_session=False,
    )
    assert again.id == charge.id
    assert len(fake.intents) == 1  # Stripe replayed the first answer

    gateway.card_detach(card_id=card.id)
    assert fake.payment_methods[card.id]["customer"] is None


@pytest.mark.parametrize(
    ("token", "off_session", "status", "message"),
    [
        ("pm_card_chargeCustomerFail", False, "declined", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", True, "declined", "insufficient funds"),
        ("pm_card_authenticationRequired", False, "requires_action", "confirm"),
        ("pm_card_authenticationRequired", True, "requires_action", "confirm"),
    ],
)
def test_charge_outcomes(gateway, fake, token, off_session, status, message):
    customer = gateway.customer_create(partner_id="ptr_2", email="", name="Beta")
    card = gateway.card_attach(customer_id=customer, token=token)
    charge = gateway.charge(
        customer_id=customer,
        card_id=card.id,
        amount=FIFTY,
        description="Auto-recharge",
        idempotency_key="ptr_2:k",
        off_session=off_session,
    )
    assert charge.status == status
    assert message in charge.message
    assert charge.id.startswith("pi_")
    if off_session:
        assert fake.posted("/v1/payment_intents")[-1].form["off_session"] == "true"


def test_refusals_at_attach(gateway):
    customer = gateway.customer_create(partner_id="ptr_3", email="", name="Gamma")
    with pytest.raises(PaymentError) as declined:
        gateway.card_attach(customer_id=customer, token="pm_card_visa_chargeDeclined")
    assert declined.value.code == "card_declined"
    with pytest.raises(PaymentError) as missing:
        gateway.card_attach(customer_id=customer, token="pm_nothing_here")
    assert missing.value.code == "invalid_request"
    with pytest.raises(PaymentError) as not_a_pm:
        gateway.card_attach(customer_id=customer, token="4242424242424242")
    assert not_a_pm.value.code == "card_refused"


def test_a_wrong_key_is_a_configuration_error_that_does_not_echo_the_key(fake):
    wrong = StripeProcessor(api_key="sk_test_wrong_and_secret", api_base=fake.base)
    with pytest.raises(PaymentError) as raised:
        wrong.customer_create(partner_id="ptr_4", email="", name="Delta")
    assert raised.value.code == "configuration"
    assert "sk_test" not in raised.value.message


def test_an_unreachable_processor_is_an_unknown_outcome():
    # Port 9 on loopback (discard) has nobody listening; no network retries, so no waiting.
    offline = StripeProcessor(
        api_key="sk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0
    )
    with pytest.raises(PaymentError) as raised:
        offline.customer_create(partner_id="ptr_5", email="", name="Epsilon")
    assert raised.value.code == "unavailable"


@pytest.mark.django_db
def test_top_up_through_stripe_end_to_end(stripe_settings, fake, partner):
    actor = Actor.system(partner=partner)
    method = payment_services.payment_method_add(partner=partner, actor=actor, token="pm_card_visa")
    assert method.processor == "stripe" and method.is_default and method.last4 == "4242"
    posting = payment_services.wallet_top_up(
        partner=partner, actor=actor, amount=FIFTY, idempotency_key="req-1"
    )
    again = payment_services.wallet_top_up(
        partner=partner, actor=actor, amount=FIFTY, idempotency_key="req-1"
    )
    assert again.id == posting.id
    assert posting.reference.startswith("pi_")
    assert ledger.wallet_balance(partner) == FIFTY
    assert len(fake.intents) == 1
    assert fake.posted("/v1/payment_intents")[0].headers["idempotency-key"] == (
        f"{partner.id}:top_up:req-1"
    )
    # The customer was made once, with the partner's billing email.
    assert [c["email"] for c in fake.customers.values()] == [partner.billing_email]


@pytest.mark.django_db
def test_auto_recharge_through_stripe_charges_off_session(stripe_settings, fake, partner):
    from datetime import UTC, datetime

    actor = Actor.system(partner=partner)
    payment_services.payment_method_add(partner=partner, actor=actor, token="pm_card_visa")
    payment_services.wallet_auto_recharge_update(
        partner=partner,
        actor=actor,
        enabled=True,
        threshold=Money.parse("25.00"),
        amount=Money.parse("100.00"),
    )
    posting = payment_services.wallet_auto_recharge_check(
        partner=partner, now=datetime(2026, 11, 3, 12, tzinfo=UTC)
    )
    assert posting is not None and ledger.wallet_balance(partner) == Money.parse("100.00")
    sent = fake.posted("/v1/payment_intents")[-1]
    assert sent.form["off_session"] == "true" and sent.form["amount"] == "10000"
