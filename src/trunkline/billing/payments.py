"""Charging partners' cards: one interface, a working simulation, and Stripe.

The platform charges its partners (the subscription fee, wallet top-ups and
auto-recharge) through a `PaymentProcessor`. The embedded default is `SimulatedProcessor`,
which needs no network and answers like a card processor does for Stripe's well-known
test numbers, so the product works offline and every outcome can be seen. Setting
`TRUNKLINE_PAYMENT_PROCESSOR=stripe` with `STRIPE_SECRET_KEY` uses Stripe.

No card number is ever stored: a processor returns an opaque payment-method id and the
card's brand, last four digits and expiry, which is all Trunkline keeps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from trunkline.core.money import Money


class PaymentError(Exception):
    """The processor refused or could not be reached; `message` is safe to show."""

    def __init__(self, message: str, *, code: str = "processor_error"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class Card:
    id: str  # the processor's payment-method id
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    id: str
    status: str  # "succeeded" | "declined" | "requires_action"
    amount: Money
    message: str = ""  # the decline reason, shown to the partner
    # requires_action: the bank's page where the cardholder confirms ('' when the
    # platform shows the confirmation itself).
    action_url: str = ""


class PaymentProcessor(Protocol):
    name: str

    def customer_create(self, *, partner_id: str, email: str, name: str) -> str: ...

    def card_attach(self, *, customer_id: str, token: str) -> Card:
        """Attach the card the browser tokenised (Stripe: a `pm_…` id); raise
        PaymentError when the processor refuses it."""

    def card_detach(self, *, card_id: str) -> None: ...

    def charge(
        self,
        *,
        customer_id: str,
        card_id: str,
        amount: Money,
        description: str,
        idempotency_key: str,
        off_session: bool,
        return_url: str = "",
    ) -> Charge:
        """Charge at once. A decline is a Charge with status "declined", not an error;
        PaymentError means the outcome is unknown (network, configuration). On-session
        charges pass `return_url`, where the bank sends the cardholder back after a
        3-D Secure confirmation."""

    def charge_retrieve(self, *, charge_id: str, amount: Money) -> Charge:
        """Where a charge stands now (after the cardholder confirmed it, or not)."""


# Stripe's documented test card numbers and what they do.
TEST_CARDS = {
    "4242424242424242": ("visa", "succeeded"),
    "5555555555554444": ("mastercard", "succeeded"),
    "378282246310005": ("amex", "succeeded"),
    "4000000000000002": ("visa", "declined"),  # generic decline
    "4000000000009995": ("visa", "insufficient_funds"),
    "4000002500003155": ("visa", "requires_action"),  # 3-D Secure on every charge
    "4000000000000341": ("visa", "declined_on_charge"),  # attaches, then declines
}
TEST_TOKENS = {"tok_visa": "4242424242424242", "tok_chargeDeclined": "4000000000000002"}


# How a simulated card behaves on charge, written into its id so that any process
# (web, worker) knows it without shared state.
_BEHAVIOUR = {
    "succeeded": "ok",
    "insufficient_funds": "nsf",
    "requires_action": "3ds",
    "declined_on_charge": "dec",
}
_OUTCOME_OF = {code: outcome for outcome, code in _BEHAVIOUR.items()}


class SimulatedProcessor:
    """A deterministic card processor: outcomes follow Stripe's test card numbers.

    Ids derive from their inputs, so a charge retried with the same idempotency key
    returns the same charge, as a real processor does.
    """

    name = "simulated"

    @staticmethod
    def _id(prefix: str, *parts: str) -> str:
        return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def customer_create(self, *, partner_id: str, email: str, name: str) -> str:
        return self._id("cus_sim_", partner_id)

    def card_attach(self, *, customer_id: str, token: str) -> Card:
        number = TEST_TOKENS.get(token, token).replace(" ", "")
        known = TEST_CARDS.get(number)
        if known is None:
            raise PaymentError(
                "use one of the test card numbers (4242 4242 4242 4242 succeeds)",
                code="card_refused",
            )
        brand, outcome = known
        if outcome == "declined":
            raise PaymentError("the card was declined", code="card_declined")
        card_id = self._id(f"pm_sim_{_BEHAVIOUR[outcome]}_", customer_id, number)
        return Card(id=card_id, brand=brand, last4=number[-4:], exp_month=12, exp_year=2034)

    def card_detach(self, *, card_id: str) -> None:
        return None

    def charge(
        self,
        *,
        customer_id: str,
        card_id: str,
        amount: Money,
        description: str,
        idempotency_key: str,
        off_session: bool,
        return_url: str = "",
    ) -> Charge:
        if amount.micros <= 0:
            raise PaymentError("a charge is for a positive amount", code="invalid_amount")
        charge_id = self._id("ch_sim_", idempotency_key)
        code = card_id.split("_")[2] if card_id.startswith("pm_sim_") else ""
        outcome = _OUTCOME_OF.get(code)
        if outcome is None:
            raise PaymentError("no such card", code="card_missing")
        if outcome == "requires_action":
            return Charge(
                charge_id, "requires_action", amount, "the bank asks the cardholder to confirm"
            )
        if outcome in ("insufficient_funds", "declined_on_charge"):
            reason = "insufficient funds" if outcome == "insufficient_funds" else "card declined"
            return Charge(charge_id, "declined", amount, reason)
        return Charge(charge_id, "succeeded", amount)

    def charge_retrieve(self, *, charge_id: str, amount: Money) -> Charge:
        """A 3-D Secure charge succeeds once the cardholder approved it on the simulated
        bank's page (`simulated_authentication_decide`) and fails if they refused."""
        from trunkline.billing.models import SimulatedCardAuthentication

        decision = SimulatedCardAuthentication.objects.filter(charge_id=charge_id).first()
        if decision is None:
            return Charge(
                charge_id, "requires_action", amount, "the bank asks the cardholder to confirm"
            )
        if decision.approved:
            return Charge(charge_id, "succeeded", amount)
        return Charge(charge_id, "declined", amount, "the cardholder did not confirm the payment")


def simulated_authentication_decide(*, charge_id: str, approved: bool) -> None:
    """The cardholder's answer on the simulated bank's confirmation page; the first
    answer stands, as at a real bank."""
    from trunkline.billing.models import SimulatedCardAuthentication

    SimulatedCardAuthentication.objects.get_or_create(
        charge_id=charge_id, defaults={"approved": approved}
    )


def processor() -> PaymentProcessor:
    """The configured processor (`TRUNKLINE_PAYMENT_PROCESSOR`, default "simulated")."""
    kind = getattr(settings, "TRUNKLINE_PAYMENT_PROCESSOR", "simulated")
    if kind == "simulated":
        return SimulatedProcessor()
    if kind == "stripe":
        from trunkline.billing.stripe_processor import StripeProcessor

        return StripeProcessor()
    raise PaymentError(f"unknown payment processor {kind!r}", code="configuration")
