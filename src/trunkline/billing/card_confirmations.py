"""Card payments the bank wants the cardholder to confirm (3-D Secure), for wallet top-ups.

A top-up charged on-session can answer `requires_action`: the bank wants the cardholder
to approve it. The top-up then opens a `CardConfirmation` and answers 409
`authentication_required` with where to confirm (`/settings/billing/confirm/<id>`, a
portal page that sends the cardholder to the bank's page, or for the simulated processor
shows a simulated bank's Approve / Decline). Coming back from the bank, or when an API
client asks (`POST /v1/wallet/confirmations/{id}/refresh`), the processor is asked where
the charge stands: succeeded credits the wallet once (keyed by the charge id, as every
top-up is); a refusal settles it FAILED; no answer within 24 hours settles it EXPIRED.
Nothing is credited before the processor says the money was taken.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from trunkline.billing.models import CardConfirmation, Posting
from trunkline.billing.payments import Charge, PaymentError, processor
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, NotFound

CONFIRMATION_WINDOW = timedelta(hours=24)
Status = CardConfirmation.Status


def confirmation_path(confirmation_id: str) -> str:
    return f"/settings/billing/confirm/{confirmation_id}"


def confirmation_open(
    *,
    partner,
    actor: Actor,
    charge: Charge,
    confirmation_id: str,
    purpose: str = "top_up",
    now: datetime | None = None,
) -> CardConfirmation:
    """Record a charge waiting for the cardholder. A retried top-up (same idempotency key,
    so the same charge) finds the confirmation it opened the first time."""
    from trunkline.billing.payment_services import default_payment_method

    now = now or timezone.now()
    gateway = processor()
    method = default_payment_method(partner)
    existing = CardConfirmation.objects.filter(processor=gateway.name, charge_id=charge.id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            confirmation = CardConfirmation.objects.create(
                id=confirmation_id,
                partner=partner,
                purpose=purpose,
                processor=gateway.name,
                charge_id=charge.id,
                payment_method_id=method.id if method else "",
                amount_micros=charge.amount.micros,
                action_url=charge.action_url,
                created_at=now,
            )
            audit_record(
                actor=actor,
                partner=partner,
                action="card.confirmation_required",
                object_type="card_confirmation",
                object_id=confirmation.id,
                after=_snapshot(confirmation),
            )
    except IntegrityError:  # the same charge opened at the same moment elsewhere
        return CardConfirmation.objects.get(processor=gateway.name, charge_id=charge.id)
    return confirmation


def confirmation_get(*, partner, confirmation_id: str) -> CardConfirmation:
    confirmation = CardConfirmation.objects.filter(partner=partner, pk=confirmation_id).first()
    if confirmation is None:
        raise NotFound("no such payment confirmation")
    return confirmation


def confirmation_refresh(
    *, confirmation: CardConfirmation, actor: Actor, now: datetime | None = None
) -> CardConfirmation:
    """Ask the processor where the charge stands and settle the confirmation by it."""
    now = now or timezone.now()
    if confirmation.status != Status.PENDING:
        return confirmation
    gateway = processor()
    if confirmation.processor != gateway.name:
        raise Conflict(
            "this payment was made with another payment processor", type="processor_changed"
        )
    # The processor is asked outside any transaction: an HTTP call holds no row lock.
    try:
        charge = gateway.charge_retrieve(
            charge_id=confirmation.charge_id, amount=confirmation.amount
        )
    except PaymentError as error:
        from trunkline.billing.payment_services import ProcessorUnavailable

        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    return _settle(confirmation_id=confirmation.id, charge=charge, actor=actor, now=now)


def _settle(*, confirmation_id: str, charge: Charge, actor: Actor, now: datetime):
    from trunkline.billing.payment_services import credit_charge

    with transaction.atomic():
        confirmation = CardConfirmation.objects.select_for_update().get(pk=confirmation_id)
        if confirmation.status != Status.PENDING:
            return confirmation
        before = _snapshot(confirmation)
        partner = confirmation.partner
        if charge.status == "succeeded":
            confirmation.posting = credit_charge(
                partner=partner, actor=actor, charge=charge, memo="Top-up (confirmed)", now=now
            )
            confirmation.status = Status.SUCCEEDED
        elif charge.status == "requires_action":
            if now - confirmation.created_at < CONFIRMATION_WINDOW:
                return confirmation
            confirmation.status = Status.EXPIRED
            confirmation.failure_reason = "not confirmed within 24 hours"
        else:
            confirmation.status = Status.FAILED
            confirmation.failure_reason = (charge.message or "the bank refused the payment")[:300]
        confirmation.settled_at = now
        confirmation.save()
        audit_record(
            actor=actor,
            partner=partner,
            action=f"card.confirmation_{confirmation.status.lower()}",
            object_type="card_confirmation",
            object_id=confirmation.id,
            before=before,
            after=_snapshot(confirmation),
        )
        if confirmation.status != Status.SUCCEEDED:
            event_emit(
                partner=partner,
                type="payment.failed",
                data={
                    "charge_id": confirmation.charge_id,
                    "status": "declined",
                    "amount": confirmation.amount.to_json(),
                    "description": "Wallet top-up",
                    "message": confirmation.failure_reason,
                    "payment_method_id": confirmation.payment_method_id,
                },
            )
    return confirmation


def confirmation_simulated_answer(
    *, confirmation: CardConfirmation, approved: bool, actor: Actor, now=None
) -> CardConfirmation:
    """The cardholder's answer on the simulated processor's bank page, then the refresh
    a real bank's redirect back would trigger."""
    from trunkline.billing.payments import simulated_authentication_decide

    if confirmation.processor != "simulated":
        raise Conflict("this payment is confirmed at the bank", type="processor_changed")
    if confirmation.status == Status.PENDING:
        simulated_authentication_decide(charge_id=confirmation.charge_id, approved=approved)
    return confirmation_refresh(confirmation=confirmation, actor=actor, now=now)


def _snapshot(confirmation: CardConfirmation) -> dict:
    return {
        "id": confirmation.id,
        "charge_id": confirmation.charge_id,
        "amount": confirmation.amount.to_json(),
        "status": confirmation.status,
        "failure_reason": confirmation.failure_reason or None,
    }


def confirmation_out(confirmation: CardConfirmation, *, base_url: str = "") -> dict:
    posting: Posting | None = confirmation.posting
    return {
        "id": confirmation.id,
        "purpose": confirmation.purpose,
        "amount": confirmation.amount.to_json(),
        "status": confirmation.status,
        "failure_reason": confirmation.failure_reason or None,
        "confirmation_url": base_url + confirmation_path(confirmation.id),
        "transaction_id": posting.id if posting else None,
        "created_at": confirmation.created_at,
        "settled_at": confirmation.settled_at,
    }
