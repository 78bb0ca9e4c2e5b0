"""Paying the platform: cards on file, charging the default card, wallet top-ups.

The processor is called outside any database transaction (a card charge is an HTTP call
that can take seconds, and must not hold row locks while it does). What a charge changes
here is written afterwards, atomically, keyed so that a retry finds it done: the processor
returns the same charge for the same idempotency key, and the wallet credit is keyed by
the charge id, so a top-up retried after a crash is charged and credited once.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.billing.models import BillingAccount, PaymentMethod
from trunkline.billing.payments import Charge, PaymentError, processor
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, PaymentRequired, ValidationFailed
from trunkline.core.money import Money

# Stripe keeps idempotency keys up to 255 characters.
MAX_IDEMPOTENCY_KEY = 200


class PaymentMethodRequired(Conflict):
    type = "payment_method_required"


class CardDeclined(PaymentRequired):
    type = "card_declined"


class CardAuthenticationRequired(Conflict):
    type = "authentication_required"


class ProcessorUnavailable(Conflict):
    """The processor could not be reached or refused the request; nothing was charged
    that we know of, and a retry with the same key is safe."""

    status = 502
    type = "processor_error"


# --- the partner's account at the processor -------------------------------------------


def billing_account_for(partner) -> BillingAccount:
    account, _ = BillingAccount.objects.get_or_create(partner=partner)
    return account


def _customer_id(partner) -> str:
    """The partner's customer at the configured processor, created on first use."""
    gateway = processor()
    account = billing_account_for(partner)
    if account.processor_customer_id and account.processor == gateway.name:
        return account.processor_customer_id
    customer_id = gateway.customer_create(
        partner_id=partner.id, email=partner.billing_email, name=partner.company_name
    )
    # Conditional, so two first cards added at once keep one customer.
    BillingAccount.objects.filter(pk=account.pk).exclude(processor=gateway.name).update(
        processor=gateway.name, processor_customer_id=customer_id, updated_at=timezone.now()
    )
    return BillingAccount.objects.values_list("processor_customer_id", flat=True).get(pk=account.pk)


def _scoped_key(partner, idempotency_key: str) -> str:
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(
            f"an idempotency key of 1 to {MAX_IDEMPOTENCY_KEY} characters",
            field="idempotency_key",
        )
    # Keys are the caller's; the partner id keeps two partners' keys apart at the processor.
    return f"{partner.id}:{idempotency_key}"


# --- charging the default card ----------------------------------------------------------


def default_payment_method(partner) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(
        partner=partner, is_default=True, deleted_at__isnull=True
    ).first()


def card_charge_default(
    *,
    partner,
    amount: Money,
    description: str,
    idempotency_key: str,
    off_session: bool,
    now: datetime | None = None,
) -> Charge:
    """Charge the partner's default card at once and return the processor's answer.

    A decline or a bank's request to confirm is a Charge with that status, not an error:
    the caller decides what it means (a top-up refuses, a subscription goes past due).
    Raises PaymentMethodRequired (409) without a default card, ValidationFailed for a
    non-positive amount, and ProcessorUnavailable (502) when the outcome is unknown;
    retrying with the same `idempotency_key` then never charges twice.
    """
    if amount.micros <= 0 or amount.micros % 10_000:
        raise ValidationFailed("a card charge is a positive amount in whole cents", field="amount")
    key = _scoped_key(partner, idempotency_key)
    method = default_payment_method(partner)
    if method is None:
        raise PaymentMethodRequired("add a payment method first: there is no default card")
    gateway = processor()
    if method.processor != gateway.name:
        raise PaymentMethodRequired(
            "the default card belongs to another payment processor; add the card again"
        )
    try:
        charge = gateway.charge(
            customer_id=_customer_id(partner),
            card_id=method.processor_id,
            amount=amount,
            description=description[:200],
            idempotency_key=key,
            off_session=off_session,
        )
    except PaymentError as error:
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    with transaction.atomic():
        audit_record(
            actor=Actor.system(partner=partner),
            partner=partner,
            action=f"card.charge_{charge.status}",
            object_type="payment_method",
            object_id=method.id,
            after={
                "charge_id": charge.id,
                "amount": amount.to_json(),
                "description": description[:200],
                "off_session": off_session,
                "message": charge.message,
            },
        )
        if charge.status != "succeeded":
            event_emit(
                partner=partner,
                type="payment.failed",
                data={
                    "charge_id": charge.id,
                    "status": charge.status,
                    "amount": amount.to_json(),
                    "description": description[:200],
                    "message": charge.message,
                    "payment_method_id": method.id,
                },
            )
    return charge
