"""The Stripe implementation of `PaymentProcessor`, on Stripe's own Python SDK.

Cards are collected in the browser by Stripe Elements, which sends the number to Stripe
and gives us a PaymentMethod id (`pm_…`); we attach it to the partner's Customer and keep
only its brand, last four digits and expiry. A charge is one PaymentIntent created and
confirmed in the same request, with our idempotency key, so a retry (ours or the SDK's
own network retries) never charges twice.

The secret key comes from STRIPE_SECRET_KEY and is only ever handed to the SDK: it is not
logged, stored or put in any message. STRIPE_API_BASE points the SDK at another server
speaking Stripe's API (a mock in tests).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings

from trunkline.billing.payments import (
    Card,
    Charge,
    CheckoutSession,
    ConnectAccount,
    PaymentError,
    Refund,
)
from trunkline.core.money import Money

log = logging.getLogger(__name__)

MICROS_PER_CENT = 10_000
# Stripe takes a Checkout Session's expiry only up to 24 hours after it is created, by
# its own clock: ask for a little less than the session's own expiry.
CHECKOUT_EXPIRY_MARGIN = timedelta(minutes=5)


def _cents(amount: Money) -> int:
    if amount.micros <= 0 or amount.micros % MICROS_PER_CENT:
        raise PaymentError("a charge is a positive amount in whole cents", code="invalid_amount")
    return amount.micros // MICROS_PER_CENT


def _failure(error: stripe.StripeError, doing: str) -> PaymentError:
    """A PaymentError whose message is safe to show: Stripe's words for card problems,
    our own for everything else (an authentication error's text names the key)."""
    if isinstance(error, stripe.CardError):
        return PaymentError(error.user_message or "the card was declined", code="card_declined")
    if isinstance(error, stripe.InvalidRequestError):
        return PaymentError(
            error.user_message or f"Stripe refused to {doing}", code="invalid_request"
        )
    if isinstance(error, (stripe.AuthenticationError, stripe.PermissionError)):
        log.error("Stripe refused the platform's credentials while trying to %s", doing)
        return PaymentError("the payment processor is misconfigured", code="configuration")
    log.warning("Stripe failed to %s: %s", doing, type(error).__name__)
    return PaymentError(f"could not reach the payment processor to {doing}", code="unavailable")


class StripeProcessor:
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        max_network_retries: int = 2,
    ):
        api_key = api_key or settings.STRIPE_SECRET_KEY
        if not api_key:
            raise PaymentError("the Stripe processor needs STRIPE_SECRET_KEY", code="configuration")
        api_base = api_base or settings.STRIPE_API_BASE or None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=max_network_retries,
        )

    @staticmethod
    def _options(account: str, **options) -> dict:
        """Request options; `account` makes the call on the connected account's behalf
        (the `Stripe-Account` header)."""
        if account:
            options["stripe_account"] = account
        return options

    def customer_create(
        self, *, partner_id: str, email: str, name: str, tenant_id: str = "", account: str = ""
    ) -> str:
        metadata = {"partner_id": partner_id}
        key = f"customer:{partner_id}"
        if tenant_id:
            metadata["tenant_id"] = tenant_id
            key = f"customer:{tenant_id}:{account or 'own'}"
        try:
            customer = self._client.v1.customers.create(
                params={"email": email, "name": name, "metadata": metadata},
                options=self._options(account, idempotency_key=key),
            )
        except stripe.StripeError as error:
            raise _failure(error, "create the customer") from None
        return customer.id

    def card_attach(self, *, customer_id: str, token: str, account: str = "") -> Card:
        if not token.startswith("pm_"):
            raise PaymentError(
                "a card is added through the card form (a Stripe PaymentMethod id)",
                code="card_refused",
            )
        try:
            method = self._client.v1.payment_methods.attach(
                token, params={"customer": customer_id}, options=self._options(account)
            )
        except stripe.StripeError as error:
            raise _failure(error, "add the card") from None
        if method.type != "card" or method.card is None:
            raise PaymentError("only cards can be added here", code="card_refused")
        return Card(
            id=method.id,
            brand=method.card.brand,
            last4=method.card.last4,
            exp_month=method.card.exp_month,
            exp_year=method.card.exp_year,
        )

    def card_detach(self, *, card_id: str, account: str = "") -> None:
        try:
            self._client.v1.payment_methods.detach(card_id, options=self._options(account))
        except stripe.StripeError as error:
            raise _failure(error, "remove the card") from None

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
        params = {
            "amount": _cents(amount),
            "currency": amount.currency.lower(),
            "customer": customer_id,
            "payment_method": card_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "description": description,
        }
        if off_session:
            # The partner is not there to authenticate: Stripe declines with
            # `authentication_required` instead of asking for 3-D Secure.
            params["off_session"] = True
        elif return_url:
            # With a return URL Stripe answers a 3-D Secure request with the bank's page
            # to send the cardholder to (next_action.redirect_to_url), no Stripe.js needed.
            params["return_url"] = return_url
        if application_fee is not None:
            # A direct charge on the connected account; this part of it is the platform's.
            params["application_fee_amount"] = _cents(application_fee)
        if statement_descriptor_suffix:
            # Card charges take a suffix to the account's own descriptor (Stripe refuses
            # a whole `statement_descriptor` on card payments).
            params["statement_descriptor_suffix"] = statement_descriptor_suffix
        try:
            intent = self._client.v1.payment_intents.create(
                params=params, options=self._options(account, idempotency_key=idempotency_key)
            )
        except stripe.CardError as error:
            intent_id = getattr(error.error.payment_intent, "id", "") if error.error else ""
            if error.code == "authentication_required":
                return Charge(
                    intent_id,
                    "requires_action",
                    amount,
                    "the bank asks the cardholder to confirm this payment",
                )
            return Charge(intent_id, "declined", amount, error.user_message or "card declined")
        except stripe.StripeError as error:
            raise _failure(error, "charge the card") from None
        return _charge_of(intent, amount)

    def charge_retrieve(self, *, charge_id: str, amount: Money, account: str = "") -> Charge:
        try:
            intent = self._client.v1.payment_intents.retrieve(
                charge_id, options=self._options(account)
            )
        except stripe.StripeError as error:
            raise _failure(error, "look up the payment") from None
        return _charge_of(intent, amount)

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
        payment = {"description": description, "metadata": dict(metadata)}
        if application_fee is not None:
            # A direct charge on the connected account, as `charge` makes.
            payment["application_fee_amount"] = _cents(application_fee)
        if statement_descriptor_suffix:
            payment["statement_descriptor_suffix"] = statement_descriptor_suffix
        params = {
            "mode": "payment",
            "payment_method_types": ["card"],
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": amount.currency.lower(),
                        "unit_amount": _cents(amount),
                        "product_data": {"name": name},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int((expires_at - CHECKOUT_EXPIRY_MARGIN).timestamp()),
            "client_reference_id": metadata.get("invoice_id", "")[:200] or None,
            "metadata": dict(metadata),
            "payment_intent_data": payment,
        }
        if customer_email:
            params["customer_email"] = customer_email
        params = {name: value for name, value in params.items() if value is not None}
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params, options=self._options(account, idempotency_key=idempotency_key)
            )
        except stripe.StripeError as error:
            raise _failure(error, "open the payment page") from None
        return _session_of(session)

    def checkout_get(self, *, session_id: str, account: str = "") -> CheckoutSession:
        try:
            session = self._client.v1.checkout.sessions.retrieve(
                session_id, options=self._options(account)
            )
        except stripe.StripeError as error:
            raise _failure(error, "look up the payment page") from None
        return _session_of(session)

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, account: str = ""
    ) -> Refund:
        try:
            refund = self._client.v1.refunds.create(
                params={"payment_intent": charge_id, "amount": _cents(amount)},
                options=self._options(account, idempotency_key=idempotency_key),
            )
        except stripe.StripeError as error:
            raise _failure(error, "refund the payment") from None
        status = refund.status if refund.status in ("succeeded", "pending") else "failed"
        return Refund(refund.id, status, amount)

    def key_check(self) -> bool:
        try:
            self._client.v1.accounts.retrieve_current()
        except (stripe.AuthenticationError, stripe.PermissionError):
            return False
        except stripe.StripeError as error:
            raise _failure(error, "check the key") from None
        return True

    def connect_account_create(self, *, partner_id: str, email: str, country: str) -> str:
        try:
            account = self._client.v1.accounts.create(
                params={
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {
                        "card_payments": {"requested": True},
                        "transfers": {"requested": True},
                    },
                    "metadata": {"partner_id": partner_id},
                },
                options={"idempotency_key": f"connect-account:{partner_id}"},
            )
        except stripe.StripeError as error:
            raise _failure(error, "create the connected account") from None
        return account.id

    def connect_onboarding_url(self, *, account: str, return_url: str, refresh_url: str) -> str:
        try:
            link = self._client.v1.account_links.create(
                params={
                    "account": account,
                    "type": "account_onboarding",
                    "return_url": return_url,
                    "refresh_url": refresh_url,
                }
            )
        except stripe.StripeError as error:
            raise _failure(error, "start the onboarding") from None
        return link.url

    def connect_account_get(self, *, account: str) -> ConnectAccount:
        try:
            found = self._client.v1.accounts.retrieve(account)
        except stripe.StripeError as error:
            raise _failure(error, "look up the connected account") from None
        requirements = getattr(found, "requirements", None)
        due = tuple(getattr(requirements, "currently_due", None) or ()) if requirements else ()
        return ConnectAccount(
            found.id, bool(found.details_submitted), bool(found.charges_enabled), due
        )

    def connect_descriptor_set(self, *, account: str, statement_descriptor: str) -> None:
        try:
            self._client.v1.accounts.update(
                account,
                params={"settings": {"payments": {"statement_descriptor": statement_descriptor}}},
            )
        except stripe.StripeError as error:
            raise _failure(error, "set the statement descriptor") from None


def _session_of(session) -> CheckoutSession:
    # Cards only: a complete session is paid (delayed methods would leave it "unpaid").
    paid = session.status == "complete" and session.payment_status == "paid"
    intent = session.payment_intent
    intent_id = intent if isinstance(intent, str) else getattr(intent, "id", "") or ""
    return CheckoutSession(
        id=session.id,
        url=session.url or "",
        status=session.status or "open",
        paid=paid,
        charge_id=intent_id if paid else "",
    )


def _charge_of(intent, amount: Money) -> Charge:
    if intent.status == "succeeded":
        return Charge(intent.id, "succeeded", amount)
    if intent.status == "requires_action":
        action = intent.next_action
        redirect = getattr(action, "redirect_to_url", None) if action else None
        return Charge(
            intent.id,
            "requires_action",
            amount,
            "the bank asks the cardholder to confirm this payment",
            action_url=getattr(redirect, "url", "") or "",
        )
    if intent.status in ("requires_payment_method", "canceled"):
        reason = intent.last_payment_error.message if intent.last_payment_error else ""
        return Charge(intent.id, "declined", amount, reason or "card declined")
    # `processing` and the like: the outcome is not known yet; retrying with the same
    # key returns this same PaymentIntent.
    raise PaymentError(f"the payment is {intent.status}; try again shortly", code="pending")
