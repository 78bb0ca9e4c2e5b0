"""Charging partners' cards: one interface, a working simulation, and Stripe.

The platform charges its partners (the subscription fee, wallet top-ups and
auto-recharge) through a `PaymentProcessor`. The embedded default is `SimulatedProcessor`,
which needs no network and answers like a card processor does for Stripe's well-known
test numbers, so the product works offline and every outcome can be seen. Setting
`TRUNKLINE_PAYMENT_PROCESSOR=stripe` with `STRIPE_SECRET_KEY` uses Stripe.

Partners collect their tenants' invoices through the same interface (billing/collection.py):
`account` names a partner's connected (Connect Express) account, on whose behalf a call is
made, and a processor built with a partner's own secret key (Custom Keys) acts as that
partner's account.

No card number is ever stored: a processor returns an opaque payment-method id and the
card's brand, last four digits and expiry, which is all Trunkline keeps.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode

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
class ConnectAccount:
    id: str  # acct_…
    details_submitted: bool  # the partner finished the hosted onboarding
    charges_enabled: bool  # the account can take card payments
    requirements_due: tuple[str, ...] = ()  # what the processor still asks for


@dataclass(frozen=True)
class Refund:
    id: str
    status: str  # "succeeded" | "pending" | "failed"
    amount: Money


@dataclass(frozen=True)
class Charge:
    id: str
    status: str  # "succeeded" | "declined" | "requires_action"
    amount: Money
    message: str = ""  # the decline reason, shown to the partner
    # requires_action: the bank's page where the cardholder confirms ('' when the
    # platform shows the confirmation itself).
    action_url: str = ""


@dataclass(frozen=True)
class CheckoutSession:
    """A hosted payment page for one amount (Stripe: a Checkout Session)."""

    id: str
    url: str  # where the payer goes to pay
    status: str  # "open" | "complete" | "expired"
    paid: bool = False
    charge_id: str = ""  # the payment once paid (Stripe: the PaymentIntent)


class PaymentProcessor(Protocol):
    name: str

    def customer_create(
        self, *, partner_id: str, email: str, name: str, tenant_id: str = "", account: str = ""
    ) -> str:
        """A customer for the partner, or (with `tenant_id`) for one of its tenants."""

    def card_attach(self, *, customer_id: str, token: str, account: str = "") -> Card:
        """Attach the card the browser tokenised (Stripe: a `pm_…` id); raise
        PaymentError when the processor refuses it."""

    def card_detach(self, *, card_id: str, account: str = "") -> None: ...

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
        account: str = "",
        application_fee: Money | None = None,
        statement_descriptor_suffix: str = "",
    ) -> Charge:
        """Charge at once. A decline is a Charge with status "declined", not an error;
        PaymentError means the outcome is unknown (network, configuration). On-session
        charges pass `return_url`, where the bank sends the cardholder back after a
        3-D Secure confirmation. With `account`, the charge is the connected account's
        and `application_fee` of it goes to the platform."""

    def charge_retrieve(self, *, charge_id: str, amount: Money, account: str = "") -> Charge:
        """Where a charge stands now (after the cardholder confirmed it, or not)."""

    def checkout_create(
        self,
        *,
        amount: Money,
        name: str,
        description: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
        metadata: dict[str, str],
        customer_email: str = "",
        account: str = "",
        application_fee: Money | None = None,
        statement_descriptor_suffix: str = "",
    ) -> CheckoutSession:
        """A hosted page where the payer pays `amount` by card once, then is sent to
        `success_url` (Stripe replaces `{CHECKOUT_SESSION_ID}` in it); `cancel_url` is
        the way back. `account`, `application_fee` and `statement_descriptor_suffix`
        apply to the payment as they do to `charge`."""

    def checkout_get(self, *, session_id: str, account: str = "") -> CheckoutSession:
        """Where a hosted checkout stands now."""

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, account: str = ""
    ) -> Refund:
        """Give back `amount` of a succeeded charge to the card it came from."""

    def key_check(self) -> bool:
        """Whether the processor accepts this processor's secret key; raises
        PaymentError when it cannot tell (unreachable)."""

    def connect_account_create(self, *, partner_id: str, email: str, country: str) -> str:
        """A connected (Express) account for the partner; the same partner always gets
        the same account."""

    def connect_onboarding_url(self, *, account: str, return_url: str, refresh_url: str) -> str:
        """Where the partner completes the processor's hosted onboarding (single use)."""

    def connect_account_get(self, *, account: str) -> ConnectAccount: ...

    def connect_descriptor_set(self, *, account: str, statement_descriptor: str) -> None:
        """What the connected account's charges show on card statements."""


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

    def __init__(self, *, api_key: str = ""):
        # A partner's own key (Custom Keys): any well-formed Stripe secret key is taken.
        self._api_key = api_key

    @staticmethod
    def _id(prefix: str, *parts: str) -> str:
        return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def customer_create(
        self, *, partner_id: str, email: str, name: str, tenant_id: str = "", account: str = ""
    ) -> str:
        if tenant_id:
            return self._id("cus_sim_", account, self._api_key, tenant_id)
        return self._id("cus_sim_", partner_id)

    def card_attach(self, *, customer_id: str, token: str, account: str = "") -> Card:
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

    def card_detach(self, *, card_id: str, account: str = "") -> None:
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
        account: str = "",
        application_fee: Money | None = None,
        statement_descriptor_suffix: str = "",
    ) -> Charge:
        if amount.micros <= 0:
            raise PaymentError("a charge is for a positive amount", code="invalid_amount")
        if application_fee is not None and not account:
            raise PaymentError("an application fee needs a connected account", code="invalid")
        if account and not self._connect_charges_enabled(account):
            raise PaymentError(
                "the connected account cannot take payments yet", code="account_restricted"
            )
        charge_id = self._id("ch_sim_", account, self._api_key, idempotency_key)
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

    def charge_retrieve(self, *, charge_id: str, amount: Money, account: str = "") -> Charge:
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

    def checkout_create(
        self,
        *,
        amount: Money,
        name: str,
        description: str,
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
        metadata: dict[str, str],
        customer_email: str = "",
        account: str = "",
        application_fee: Money | None = None,
        statement_descriptor_suffix: str = "",
    ) -> CheckoutSession:
        """The simulated processor's hosted page is the platform's own payment page,
        `cancel_url`, which shows a card form taking the test card numbers while the
        processor is simulated (`simulated_checkout_pay`). The session id is keyed with
        the platform's secret, so it cannot be worked out from the idempotency key."""
        if amount.micros <= 0:
            raise PaymentError("a payment is for a positive amount", code="invalid_amount")
        if application_fee is not None and not account:
            raise PaymentError("an application fee needs a connected account", code="invalid")
        if account and not self._connect_charges_enabled(account):
            raise PaymentError(
                "the connected account cannot take payments yet", code="account_restricted"
            )
        return CheckoutSession(self._session_id(account, idempotency_key), cancel_url, "open")

    def _session_id(self, account: str, idempotency_key: str) -> str:
        from django.utils.crypto import salted_hmac

        parts = "|".join((account, self._api_key, idempotency_key))
        digest = salted_hmac("simulated-checkout", parts, algorithm="sha256").hexdigest()
        return f"cs_sim_{digest[:40]}"

    def checkout_get(self, *, session_id: str, account: str = "") -> CheckoutSession:
        from trunkline.billing.models import SimulatedCheckoutPayment

        paid = SimulatedCheckoutPayment.objects.filter(session_id=session_id).first()
        if paid is None:
            return CheckoutSession(session_id, "", "open")
        return CheckoutSession(session_id, "", "complete", paid=True, charge_id=paid.charge_id)

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, account: str = ""
    ) -> Refund:
        if amount.micros <= 0 or not charge_id.startswith("ch_sim_"):
            raise PaymentError("no such charge to refund", code="invalid_request")
        return Refund(self._id("re_sim_", account, idempotency_key), "succeeded", amount)

    def key_check(self) -> bool:
        return not self._api_key or SECRET_KEY_FORMAT.fullmatch(self._api_key) is not None

    # Connected accounts: onboarding happens on the platform's own simulated page
    # (portal: /settings/billing/tenant-billing/simulated-onboarding/<account>), which
    # records the outcome.

    def connect_account_create(self, *, partner_id: str, email: str, country: str) -> str:
        from trunkline.billing.models import SimulatedConnectAccount

        account, _ = SimulatedConnectAccount.objects.get_or_create(
            id=self._id("acct_sim_", partner_id), defaults={"partner_id": partner_id}
        )
        return account.id

    def connect_onboarding_url(self, *, account: str, return_url: str, refresh_url: str) -> str:
        origin = "/".join(return_url.split("/")[:3]) if "://" in return_url else ""
        query = urlencode({"return_url": return_url, "refresh_url": refresh_url})
        return f"{origin}/settings/billing/tenant-billing/simulated-onboarding/{account}?{query}"

    def connect_account_get(self, *, account: str) -> ConnectAccount:
        from trunkline.billing.models import SimulatedConnectAccount

        found = SimulatedConnectAccount.objects.filter(id=account).first()
        if found is None:
            raise PaymentError("no such connected account", code="invalid_request")
        due = () if found.details_submitted else ("business_profile", "external_account")
        return ConnectAccount(found.id, found.details_submitted, found.charges_enabled, due)

    def connect_descriptor_set(self, *, account: str, statement_descriptor: str) -> None:
        from trunkline.billing.models import SimulatedConnectAccount

        SimulatedConnectAccount.objects.filter(id=account).update(
            statement_descriptor=statement_descriptor
        )

    @staticmethod
    def _connect_charges_enabled(account: str) -> bool:
        from trunkline.billing.models import SimulatedConnectAccount

        return SimulatedConnectAccount.objects.filter(id=account, charges_enabled=True).exists()


def simulated_onboarding_finish(*, account: str) -> bool:
    """The partner completed the simulated hosted onboarding: the account can take
    payments. False for an unknown account."""
    from trunkline.billing.models import SimulatedConnectAccount

    return bool(
        SimulatedConnectAccount.objects.filter(id=account).update(
            details_submitted=True, charges_enabled=True
        )
    )


# A Stripe secret key: `sk_live_…` or `sk_test_…` (restricted keys `rk_…` are refused:
# they may lack the permissions collection needs).
SECRET_KEY_FORMAT = re.compile(r"sk_(live|test)_[A-Za-z0-9]{10,247}")
PUBLISHABLE_KEY_FORMAT = re.compile(r"pk_(live|test)_[A-Za-z0-9]{10,247}")


def simulated_authentication_decide(*, charge_id: str, approved: bool) -> None:
    """The cardholder's answer on the simulated bank's confirmation page; the first
    answer stands, as at a real bank."""
    from trunkline.billing.models import SimulatedCardAuthentication

    SimulatedCardAuthentication.objects.get_or_create(
        charge_id=charge_id, defaults={"approved": approved}
    )


def simulated_checkout_pay(*, session_id: str, card_number: str) -> Charge:
    """The payer's card on the simulated hosted checkout page. The test cards behave as
    they do when charged (4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined);
    one that asks for 3-D Secure is confirmed on the page, as Stripe's hosted page does.
    The first successful payment stands; paying again answers it."""
    from trunkline.billing.models import SimulatedCheckoutPayment

    number = "".join(str(card_number).split())
    known = TEST_CARDS.get(number)
    if known is None:
        raise PaymentError(
            "use one of the test card numbers (4242 4242 4242 4242 succeeds)",
            code="card_refused",
        )
    brand, outcome = known
    charge_id = SimulatedProcessor._id("ch_sim_", "checkout", session_id)
    declines = {
        "declined": "card declined",
        "declined_on_charge": "card declined",
        "insufficient_funds": "insufficient funds",
    }
    if outcome in declines:
        return Charge(charge_id, "declined", Money(0), declines[outcome])
    paid, _ = SimulatedCheckoutPayment.objects.get_or_create(
        session_id=session_id,
        defaults={"charge_id": charge_id, "brand": brand, "last4": number[-4:]},
    )
    return Charge(paid.charge_id, "succeeded", Money(0))


def processor(*, api_key: str = "") -> PaymentProcessor:
    """The configured processor (`TRUNKLINE_PAYMENT_PROCESSOR`, default "simulated"),
    acting for the platform or, given a partner's own `api_key`, for that partner."""
    kind = getattr(settings, "TRUNKLINE_PAYMENT_PROCESSOR", "simulated")
    if kind == "simulated":
        return SimulatedProcessor(api_key=api_key)
    if kind == "stripe":
        from trunkline.billing.stripe_processor import StripeProcessor

        return StripeProcessor(api_key=api_key or None)
    raise PaymentError(f"unknown payment processor {kind!r}", code="configuration")
