"""Paying the platform: cards on file, charging the default card, wallet top-ups.

The processor is called outside any database transaction (a card charge is an HTTP call
that can take seconds, and must not hold row locks while it does). What a charge changes
here is written afterwards, atomically, keyed so that a retry finds it done: the processor
returns the same charge for the same idempotency key, and the wallet credit is keyed by
the charge id, so a top-up retried after a crash is charged and credited once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import BigIntegerField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.accounts.selectors import partner_admin_emails
from trunkline.billing import ledger
from trunkline.billing.models import BillingAccount, LedgerAccount, PaymentMethod, Posting
from trunkline.billing.payments import Charge, PaymentError, processor
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.email import brand_name, send_branded_email
from trunkline.core.errors import Conflict, NotFound, PaymentRequired, ValidationFailed
from trunkline.core.ids import new_id
from trunkline.core.money import Money

log = logging.getLogger(__name__)

# Stripe keeps idempotency keys up to 255 characters.
MAX_IDEMPOTENCY_KEY = 200


class PaymentMethodRequired(Conflict):
    type = "payment_method_required"


class CardDeclined(PaymentRequired):
    type = "card_declined"


class CardAuthenticationRequired(Conflict):
    """The bank wants the cardholder to confirm; `confirmation` (when the charge can be
    confirmed here) says where."""

    type = "authentication_required"

    def __init__(self, message: str, *, confirmation: dict | None = None):
        super().__init__(message)
        self.confirmation = confirmation

    def envelope(self) -> dict:
        envelope = super().envelope()
        if self.confirmation is not None:
            envelope["error"]["confirmation"] = self.confirmation
        return envelope


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
    return_url: str = "",
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
            return_url=return_url,
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


# --- payment methods ----------------------------------------------------------------------


def payment_methods_of(partner):
    """The partner's cards on file, the default first."""
    return PaymentMethod.objects.filter(partner=partner, deleted_at__isnull=True).order_by(
        "-is_default", "-created_at", "-id"
    )


def payment_method_get(partner, payment_method_id: str) -> PaymentMethod:
    method = payment_methods_of(partner).filter(id=payment_method_id).first()
    if method is None:
        raise NotFound("no such payment method")
    return method


def _method_json(method: PaymentMethod) -> dict:
    return {
        "id": method.id,
        "kind": method.kind,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
    }


def _lock_account(partner) -> BillingAccount:
    """Serialises one partner's card and auto-recharge changes (PostgreSQL row lock;
    SQLite's write transaction already does)."""
    billing_account_for(partner)
    return BillingAccount.objects.select_for_update().get(partner=partner)


def payment_method_add(*, partner, actor: Actor, token: str) -> PaymentMethod:
    """Attach the card the browser tokenised (Stripe Elements' `pm_…` id; with the
    simulated processor, a test card number). The first card becomes the default. Only
    the processor's id and the card's description are kept, never its number."""
    token = (token or "").strip()
    if not token or len(token) > 255:
        raise ValidationFailed("token is the payment method id from the card form", field="token")
    gateway = processor()
    try:
        card = gateway.card_attach(customer_id=_customer_id(partner), token=token)
    except PaymentError as error:
        if error.code == "card_declined":
            raise CardDeclined(error.message) from None
        if error.code in ("card_refused", "invalid_request"):
            raise ValidationFailed(error.message, field="token", type="card_refused") from None
        raise ProcessorUnavailable(f"the payment processor failed: {error.message}") from None
    with transaction.atomic():
        _lock_account(partner)
        existing = payment_methods_of(partner).filter(processor=gateway.name, processor_id=card.id)
        if existing.exists():
            return existing.get()
        method = PaymentMethod.objects.create(
            partner=partner,
            processor=gateway.name,
            processor_id=card.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            is_default=not payment_methods_of(partner).filter(is_default=True).exists(),
        )
        audit_record(
            actor=actor,
            partner=partner,
            action="payment_method.added",
            object_type="payment_method",
            object_id=method.id,
            after=_method_json(method),
        )
        event_emit(
            partner=partner,
            type="payment_method.attached",
            data={"payment_method": _method_json(method)},
        )
    return method


def payment_method_set_default(*, partner, actor: Actor, payment_method_id: str) -> PaymentMethod:
    with transaction.atomic():
        _lock_account(partner)
        method = payment_method_get(partner, payment_method_id)
        if method.is_default:
            return method
        previous = payment_methods_of(partner).filter(is_default=True).first()
        payment_methods_of(partner).filter(is_default=True).update(is_default=False)
        method.is_default = True
        method.save(update_fields=["is_default"])
        audit_record(
            actor=actor,
            partner=partner,
            action="payment_method.default_set",
            object_type="payment_method",
            object_id=method.id,
            before={"default": previous.id if previous else None},
            after={"default": method.id},
        )
    return method


NO_CARD_REASON = "the only payment method on file was deleted"


def payment_method_delete(
    *, partner, actor: Actor, payment_method_id: str, now: datetime | None = None
) -> None:
    """Remove a card. The newest remaining card takes over as the default; without one,
    auto-recharge is switched off, since there would be nothing to charge."""
    now = now or timezone.now()
    with transaction.atomic():
        account = _lock_account(partner)
        method = payment_method_get(partner, payment_method_id)
        was_default = method.is_default
        method.is_default = False
        method.deleted_at = now
        method.save(update_fields=["is_default", "deleted_at"])
        successor = payment_methods_of(partner).first() if was_default else None
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default"])
        after = {"default": successor.id if successor else None}
        if not payment_methods_of(partner).exists() and account.auto_recharge_enabled:
            _auto_recharge_disable(account, NO_CARD_REASON, now)
            after["auto_recharge_disabled"] = NO_CARD_REASON
        audit_record(
            actor=actor,
            partner=partner,
            action="payment_method.deleted",
            object_type="payment_method",
            object_id=method.id,
            before=_method_json(method) | {"is_default": was_default},
            after=after,
        )
        gateway, card_id = processor(), method.processor_id
        if gateway.name == method.processor:
            transaction.on_commit(lambda: _detach(gateway, card_id), robust=True)


def _detach(gateway, card_id: str) -> None:
    # After commit: the card is already gone from the partner's list; a processor that
    # cannot be reached leaves it attached there, harmlessly, since we never charge it.
    try:
        gateway.card_detach(card_id=card_id)
    except PaymentError as error:
        log.warning("could not detach payment method at the processor: %s", error.code)


# --- wallet top-ups -------------------------------------------------------------------------

TOP_UP_MIN = Money.parse("10.00")
TOP_UP_MAX = Money.parse("10000.00")


def _whole_cents(amount: Money, field: str) -> None:
    if amount.micros % 10_000:
        raise ValidationFailed(f"{field} is in whole cents", field=field)


def wallet_top_up(
    *,
    partner,
    actor: Actor,
    amount: Money,
    idempotency_key: str,
    now: datetime | None = None,
    base_url: str = "",
) -> Posting:
    """Charge the default card now and credit the wallet with what it paid.

    The same `idempotency_key` charges once and credits once. A decline raises
    CardDeclined (402) with the processor's reason. A bank asking the cardholder to
    confirm opens a CardConfirmation and raises CardAuthenticationRequired (409) saying
    where to confirm (`base_url` is the portal's address for that link); the wallet is
    credited when the confirmed charge succeeds (`card_confirmations`).
    """
    from trunkline.billing import card_confirmations

    _whole_cents(amount, "amount")
    if not TOP_UP_MIN <= amount <= TOP_UP_MAX:
        raise ValidationFailed(
            f"a top-up is between ${TOP_UP_MIN} and ${TOP_UP_MAX}", field="amount"
        )
    # The confirmation's id is chosen first: the bank sends the cardholder back to it.
    confirmation_id = new_id("cfm")
    return_url = (
        f"{base_url}{card_confirmations.confirmation_path(confirmation_id)}/return"
        if base_url
        else ""
    )
    charge = card_charge_default(
        partner=partner,
        amount=amount,
        description="Wallet top-up",
        idempotency_key=f"top_up:{idempotency_key}",
        off_session=False,
        now=now,
        return_url=return_url,
    )
    if charge.status == "requires_action":
        confirmation = card_confirmations.confirmation_open(
            partner=partner, actor=actor, charge=charge, confirmation_id=confirmation_id, now=now
        )
        raise CardAuthenticationRequired(
            "your bank asks you to confirm this payment: approve it at the confirmation "
            "link, and the wallet is credited as soon as the bank accepts it",
            confirmation=card_confirmations.confirmation_out(confirmation, base_url=base_url),
        )
    if charge.status != "succeeded":
        raise CardDeclined(f"the card was declined: {charge.message or 'no reason given'}")
    return credit_charge(partner=partner, actor=actor, charge=charge, memo="Top-up", now=now)


def credit_charge(*, partner, actor: Actor, charge: Charge, memo: str, now) -> Posting:
    with transaction.atomic():
        posting, created = ledger.wallet_credit(
            partner=partner,
            amount=charge.amount,
            type=Posting.Type.TOP_UP,
            actor=actor,
            idempotency_key=f"top_up:{charge.id}",
            memo=memo,
            reference=charge.id,
            now=now,
        )
        if created:
            audit_record(
                actor=actor,
                partner=partner,
                action="wallet.top_up",
                object_type="posting",
                object_id=posting.id,
                after={"amount": charge.amount.to_json(), "charge_id": charge.id, "memo": memo},
            )
        calls_blocking_review(partner=partner, now=now)
    return posting


# --- auto-recharge ---------------------------------------------------------------------------

AUTO_RECHARGE_MIN_AMOUNT = Money.parse("10.00")
AUTO_RECHARGE_MAX_AMOUNT = Money.parse("10000.00")
AUTO_RECHARGE_MAX_THRESHOLD = Money.parse("100000.00")
AUTO_RECHARGE_INTERVAL = timedelta(hours=1)


def _settings_json(account: BillingAccount) -> dict:
    return {
        "enabled": account.auto_recharge_enabled,
        "threshold": Money(account.auto_recharge_threshold_micros).to_json(),
        "amount": Money(account.auto_recharge_amount_micros).to_json(),
        "disabled_reason": account.auto_recharge_disabled_reason,
    }


def wallet_auto_recharge_update(
    *, partner, actor: Actor, enabled: bool, threshold: Money, amount: Money
) -> BillingAccount:
    """Set auto-recharge: when the balance falls below `threshold`, charge `amount` to
    the default card (at most once an hour)."""
    _whole_cents(amount, "amount")
    _whole_cents(threshold, "threshold")
    if amount < AUTO_RECHARGE_MIN_AMOUNT or amount > AUTO_RECHARGE_MAX_AMOUNT:
        raise ValidationFailed(
            f"the recharge amount is between ${AUTO_RECHARGE_MIN_AMOUNT} and "
            f"${AUTO_RECHARGE_MAX_AMOUNT}",
            field="amount",
        )
    if threshold.micros < 0 or threshold > AUTO_RECHARGE_MAX_THRESHOLD:
        raise ValidationFailed(
            f"the threshold is between $0.00 and ${AUTO_RECHARGE_MAX_THRESHOLD}", field="threshold"
        )
    with transaction.atomic():
        account = _lock_account(partner)
        if enabled and default_payment_method(partner) is None:
            raise PaymentMethodRequired("add a payment method before turning on auto-recharge")
        before = _settings_json(account)
        account.auto_recharge_enabled = enabled
        account.auto_recharge_threshold_micros = threshold.micros
        account.auto_recharge_amount_micros = amount.micros
        if enabled:
            account.auto_recharge_disabled_reason = ""
        account.updated_at = timezone.now()
        account.save(
            update_fields=[
                "auto_recharge_enabled",
                "auto_recharge_threshold_micros",
                "auto_recharge_amount_micros",
                "auto_recharge_disabled_reason",
                "updated_at",
            ]
        )
        after = _settings_json(account)
        if after != before:
            audit_record(
                actor=actor,
                partner=partner,
                action="wallet.auto_recharge_updated",
                object_type="billing_account",
                object_id=partner.id,
                before=before,
                after=after,
            )
        if enabled:
            # A wallet already below the new threshold is recharged now, not at the next
            # charge.
            wallet_after_debit(partner)
    return account


def wallet_auto_recharge_settings(partner) -> dict:
    return _settings_json(billing_account_for(partner))


def _auto_recharge_disable(account: BillingAccount, reason: str, now) -> None:
    account.auto_recharge_enabled = False
    account.auto_recharge_disabled_reason = reason[:200]
    account.updated_at = now
    account.save(
        update_fields=["auto_recharge_enabled", "auto_recharge_disabled_reason", "updated_at"]
    )


def _claim_auto_recharge(partner, now: datetime) -> bool:
    """Take this hour's recharge: one conditional UPDATE, so of two processes that both
    see a low balance, exactly one goes on to charge the card."""
    claimed = (
        BillingAccount.objects.filter(partner=partner, auto_recharge_enabled=True)
        .filter(
            Q(auto_recharge_last_at__isnull=True)
            | Q(auto_recharge_last_at__lte=now - AUTO_RECHARGE_INTERVAL)
            # A clock set back (or a `now` in the past) must not lock recharging out.
            | Q(auto_recharge_last_at__gt=now + AUTO_RECHARGE_INTERVAL)
        )
        .update(auto_recharge_last_at=now, updated_at=now)
    )
    return claimed == 1


def wallet_auto_recharge_check(
    *, partner, now: datetime, needed: Money | None = None
) -> Posting | None:
    """Recharge the wallet when auto-recharge is on and the balance is below its
    threshold (or below `needed`, what a purchase about to be made costs), at most once
    an hour. A failure emails the partner's admins and turns auto-recharge off with the
    reason. Returns the top-up posting, if one was made."""
    account = billing_account_for(partner)
    if not account.auto_recharge_enabled:
        return None
    floor = max(account.auto_recharge_threshold_micros, needed.micros if needed else 0)
    if ledger.wallet_balance(partner).micros >= floor:
        return None
    if not _claim_auto_recharge(partner, now):
        return None
    amount = Money(account.auto_recharge_amount_micros)
    actor = Actor.system(partner=partner)
    try:
        charge = card_charge_default(
            partner=partner,
            amount=amount,
            description="Wallet auto-recharge",
            idempotency_key=f"auto_recharge:{now.isoformat()}",
            off_session=True,
            now=now,
        )
    except (PaymentMethodRequired, ProcessorUnavailable) as error:
        _auto_recharge_failed(partner, amount, error.message, now)
        return None
    if charge.status == "requires_action":
        _auto_recharge_failed(
            partner, amount, "the bank asked the cardholder to confirm the payment", now
        )
        return None
    if charge.status != "succeeded":
        _auto_recharge_failed(partner, amount, charge.message or "the card was declined", now)
        return None
    return credit_charge(partner=partner, actor=actor, charge=charge, memo="Auto-recharge", now=now)


def _auto_recharge_failed(partner, amount: Money, reason: str, now: datetime) -> None:
    with transaction.atomic():
        account = _lock_account(partner)
        if not account.auto_recharge_enabled:
            return
        _auto_recharge_disable(account, f"auto-recharge failed: {reason}", now)
        audit_record(
            actor=Actor.system(partner=partner),
            partner=partner,
            action="wallet.auto_recharge_failed",
            object_type="billing_account",
            object_id=partner.id,
            after={"amount": amount.to_json(), "reason": reason},
        )
        send_branded_email(
            partner=partner,
            to=partner_admin_emails(partner) or [partner.billing_email],
            subject="Auto-recharge failed: your wallet was not topped up",
            body=render_to_string(
                "billing/emails/auto_recharge_failed.txt",
                {
                    "brand": brand_name(partner),
                    "amount": amount.to_json(),
                    "reason": reason,
                    "balance": ledger.wallet_balance(partner).to_json(),
                },
            ),
        )


# --- call blocking -----------------------------------------------------------------------


def calls_blocking_review(*, partner, now: datetime | None = None) -> bool:
    """Flag the partner for call blocking while its wallet is below zero, and clear the
    flag once it is not. The call engine refuses new calls of a flagged partner, so the
    balance can only go further down by the calls already in progress. Returns whether
    the partner is blocked."""
    now = now or timezone.now()
    negative = ledger.wallet_balance(partner).micros < 0
    billing_account_for(partner)
    accounts = BillingAccount.objects.filter(partner=partner)
    with transaction.atomic():
        if negative:
            changed = accounts.filter(calls_blocked_at__isnull=True).update(
                calls_blocked_at=now, updated_at=now
            )
        else:
            changed = accounts.filter(calls_blocked_at__isnull=False).update(
                calls_blocked_at=None, updated_at=now
            )
        if changed:
            audit_record(
                actor=Actor.system(partner=partner),
                partner=partner,
                action="wallet.calls_blocked" if negative else "wallet.calls_unblocked",
                object_type="billing_account",
                object_id=partner.id,
                after={"balance": ledger.wallet_balance(partner).to_json()},
            )
    return negative


def partner_calls_blocked(partner) -> bool:
    """Whether the call engine should refuse this partner's new calls (wallet below zero
    and not recharged)."""
    return BillingAccount.objects.filter(partner=partner, calls_blocked_at__isnull=False).exists()


def wallet_balance_review(*, partner, now: datetime) -> None:
    """After money left the wallet: recharge it if it is due, then block calls if it is
    still below zero (auto-recharge off, failed, or already used this hour)."""
    wallet_auto_recharge_check(partner=partner, now=now)
    calls_blocking_review(partner=partner, now=now)


def wallet_after_debit(partner) -> None:
    """Call after a wallet debit (usage, a purchase): once the transaction commits, a
    background task recharges the wallet or flags the partner for call blocking."""
    from trunkline.billing import tasks

    partner_id = partner.id
    transaction.on_commit(
        lambda: tasks.wallet_review.enqueue(partner_id=partner_id, now=""), robust=True
    )


def wallet_review_sweep(*, now: datetime) -> int:
    """The periodic safety net (every few minutes) behind `wallet_after_debit`: reviews
    every partner whose wallet is below its auto-recharge threshold or below zero, and
    every flagged partner whose wallet is back above zero. Returns how many it looked at."""
    wallets = LedgerAccount.objects.filter(code=LedgerAccount.Code.WALLET, partner__isnull=False)
    balance = Subquery(
        wallets.filter(partner=OuterRef("partner")).values("balance_micros")[:1],
        output_field=BigIntegerField(),
    )
    # A partner that never had a posting has no wallet row yet: its balance is zero.
    low = (
        BillingAccount.objects.filter(auto_recharge_enabled=True)
        .annotate(balance=Coalesce(balance, Value(0)))
        .filter(balance__lt=F("auto_recharge_threshold_micros"))
    )
    negative_unflagged = wallets.filter(balance_micros__lt=0).exclude(
        partner__billing_account__calls_blocked_at__isnull=False
    )
    flagged_recovered = wallets.filter(
        balance_micros__gte=0, partner__billing_account__calls_blocked_at__isnull=False
    )
    partner_ids = set()
    for queryset in (low, negative_unflagged, flagged_recovered):
        partner_ids.update(queryset.values_list("partner_id", flat=True))
    for partner in Partner.objects.filter(id__in=partner_ids).order_by("id"):
        wallet_balance_review(partner=partner, now=now)
    return len(partner_ids)
