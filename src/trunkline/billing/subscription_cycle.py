"""The monthly run: roll each active partner's cycle, charge its fee to the card and its
extensions and numbers to the wallet, and chase fees the card did not pay.

For a partner whose period ended, one transaction (under the billing account's row lock)
applies a pending downgrade, issues the month's invoice (open, keyed by partner and
month), debits the wallet for each billable unit (keyed the same way) and opens the next
period. The card is charged afterwards, outside any transaction, for every open invoice:
a run that stopped in between finds the open invoice next time and charges it with the
same key, so nothing is charged or debited twice however often the run goes.

Grace rule: a fee the card refuses marks the partner past due (and emails it) but keeps
the service on. The run retries the card once a day; paying clears the flag. A partner
still past due `GRACE_DAYS` after the first refusal is suspended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from trunkline.accounts.models import Partner
from trunkline.billing import ledger
from trunkline.billing.attachments import PLATFORM_INVOICE_PDF
from trunkline.billing.invoices_platform import invoice_issue
from trunkline.billing.models import BillingAccount, PlatformInvoice, Posting
from trunkline.billing.payment_services import (
    PaymentMethodRequired,
    ProcessorUnavailable,
    card_charge_default,
)
from trunkline.billing.subscriptions import (
    _label,
    _locked,
    _notify,
    _require_partner_writer,
    _switch_plan_period,
    next_month_start,
    partner_suspend_for_billing,
    plan_price_at,
    subscription_snapshot,
)
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, changed_fields, event_emit
from trunkline.core.errors import Conflict, ValidationFailed
from trunkline.core.money import Money

GRACE_DAYS = 14
RETRY_EVERY = timedelta(days=1)

# --- what is billed per unit each month ------------------------------------------------------

# name → (posting type, price field on PlanPrice, what one unit is called)
BILLABLE_UNITS: dict[str, tuple[str, str, str]] = {
    "extensions": (Posting.Type.EXTENSION_MONTHLY, "extension_monthly_micros", "extension"),
    "dids_local": (Posting.Type.DID_MONTHLY_LOCAL, "did_local_monthly_micros", "local number"),
    "dids_toll_free": (
        Posting.Type.DID_MONTHLY_TOLL_FREE,
        "did_toll_free_monthly_micros",
        "toll-free number",
    ),
}
CountFunction = Callable[..., int]  # fn(*, partner, at) -> how many units the partner has
_COUNTERS: dict[str, CountFunction] = {}


def billable_counts_register(name: str, fn: CountFunction) -> None:
    """Let the app that owns a billable unit say how many a partner has; `fn(partner=…,
    at=…)`. Registering a name again replaces its counter."""
    if name not in BILLABLE_UNITS:
        raise ValueError(f"{name!r} is not one of {sorted(BILLABLE_UNITS)}")
    _COUNTERS[name] = fn


def billable_counts_unregister(name: str) -> None:
    _COUNTERS.pop(name, None)


def billable_count(name: str, *, partner, at: datetime) -> int:
    counter = _COUNTERS.get(name)
    return int(counter(partner=partner, at=at)) if counter is not None else 0


# --- rolling the cycle -------------------------------------------------------------------------


def _month_key(partner, start: datetime) -> str:
    return f"{partner.id}:{start:%Y-%m-%d}"


def _roll_once(account_id: int, now: datetime) -> bool:
    """Roll one period of one partner if it has ended; False when there is nothing to do."""
    with transaction.atomic():
        account = BillingAccount.objects.select_related("partner").get(pk=account_id)
        partner, account = _locked(account.partner)
        if (
            partner.status != Partner.Status.ACTIVE
            or account.current_period_end is None
            or account.current_period_end > now
        ):
            return False
        actor = Actor.system(partner=partner)
        start = account.current_period_end
        end = next_month_start(start)
        before = subscription_snapshot(partner=partner, account=account, now=start)
        if account.pending_plan:
            _switch_plan_period(partner=partner, plan=account.pending_plan, at=start)
            account.plan, account.pending_plan = account.pending_plan, ""
        price = plan_price_at(partner=partner, plan=account.plan, at=start)
        if price is None:
            raise ValidationFailed(f"no {account.plan} price is in force on {start:%Y-%m-%d}")
        last_day = end - timedelta(days=1)
        invoice_issue(
            partner=partner,
            kind=PlatformInvoice.Kind.MONTHLY,
            plan=account.plan,
            period_start=start,
            period_end=end,
            lines=[
                {
                    "description": f"{_label(account.plan)} plan, "
                    f"{start:%d %b} to {last_day:%d %b %Y}",
                    "quantity": 1,
                    "unit_amount_micros": price.monthly_fee_micros,
                    "amount_micros": price.monthly_fee_micros,
                }
            ],
            idempotency_key=f"monthly:{_month_key(partner, start)}",
            now=now,
        )
        for name, (posting_type, price_field, unit) in BILLABLE_UNITS.items():
            count = billable_count(name, partner=partner, at=start)
            unit_price = Money(getattr(price, price_field))
            amount = unit_price.times(count).rounded_to_cents()
            if count <= 0 or amount.micros <= 0:
                continue
            # Recurring charges are owed like minutes already talked: they may take the
            # wallet below zero, and the low-balance rules take it from there.
            ledger.wallet_debit(
                partner=partner,
                amount=amount,
                type=posting_type,
                actor=actor,
                idempotency_key=f"{posting_type}:{_month_key(partner, start)}",
                memo=f"{count} × {unit} at ${unit_price}, {start:%B %Y}",
                allow_negative=True,
                now=now,
            )
        account.current_period_start, account.current_period_end = start, end
        account.updated_at = now
        account.save()
        after = subscription_snapshot(partner=partner, account=account, now=start)
        audit_record(
            actor=actor,
            partner=partner,
            action="subscription.renewed",
            object_type="subscription",
            object_id=partner.id,
            before=before,
            after=after,
        )
        if after["plan"] != before["plan"] or after["pending_plan"] != before["pending_plan"]:
            event_emit(
                partner=partner,
                type="subscription.updated",
                data={
                    "subscription": after,
                    "previous_attributes": {
                        key: before.get(key)
                        for key in changed_fields(before, after)
                        if key in ("plan", "pending_plan", "monthly_fee")
                    },
                },
            )
    return True


# --- collecting invoices ------------------------------------------------------------------------


def invoice_collect(*, invoice: PlatformInvoice, now: datetime, off_session: bool = True) -> str:
    """Charge an open or failed invoice to the default card; returns its status after.

    Each attempt has its own key (`invoice id:attempt`), so a retry after a decline asks
    the card again, while a run that stopped mid-attempt repeats the same attempt.
    """
    partner = invoice.partner
    attempt = invoice.attempts + 1
    charge, message = None, ""
    try:
        charge = card_charge_default(
            partner=partner,
            amount=invoice.total,
            description=f"{invoice.display_number}: {invoice.get_plan_display()} plan",
            idempotency_key=f"invoice:{invoice.id}:{attempt}",
            off_session=off_session,
            now=now,
        )
    except PaymentMethodRequired as error:
        message = error.message
    except ProcessorUnavailable:
        return invoice.status  # outcome unknown: the next run asks again with the same key
    with transaction.atomic():
        partner, account = _locked(partner)
        invoice = PlatformInvoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status == PlatformInvoice.Status.PAID or invoice.attempts >= attempt:
            return invoice.status
        before = subscription_snapshot(partner=partner, account=account, now=now)
        invoice.attempts = attempt
        invoice.last_attempt_at = now
        if charge is not None and charge.status == "succeeded":
            invoice.status = PlatformInvoice.Status.PAID
            invoice.charge_id, invoice.paid_at, invoice.failure_message = charge.id, now, ""
            invoice.save()
            still_owed = PlatformInvoice.objects.filter(
                partner=partner, status=PlatformInvoice.Status.FAILED
            ).exists()
            if not still_owed:
                account.past_due_since = None
        else:
            if charge is not None:
                message = charge.message or (
                    "the bank asks the cardholder to confirm this payment"
                    if charge.status == "requires_action"
                    else "card declined"
                )
                invoice.charge_id = charge.id
            invoice.status = PlatformInvoice.Status.FAILED
            invoice.failure_message = message[:300]
            invoice.save()
            if account.past_due_since is None:
                account.past_due_since = now
                _notify(
                    partner,
                    subject=f"Payment failed for invoice {invoice.display_number}",
                    template="billing/emails/subscription_payment_failed.txt",
                    context={
                        "invoice": invoice,
                        "reason": message,
                        "suspend_on": now + timedelta(days=GRACE_DAYS),
                    },
                    attachments=[(PLATFORM_INVOICE_PDF, invoice.id)],
                )
        account.updated_at = now
        account.save()
        audit_record(
            actor=Actor.system(partner=partner),
            partner=partner,
            action=f"subscription_invoice.{invoice.status}",
            object_type="subscription_invoice",
            object_id=invoice.id,
            after={"number": invoice.display_number, "charge_id": invoice.charge_id},
        )
        after = subscription_snapshot(partner=partner, account=account, now=now)
        if after["past_due_since"] != before["past_due_since"]:
            event_emit(
                partner=partner,
                type="subscription.updated",
                data={
                    "subscription": after,
                    "previous_attributes": {"past_due_since": before["past_due_since"]},
                },
            )
    return invoice.status


def subscription_invoice_pay(*, actor: Actor, invoice: PlatformInvoice, now: datetime) -> str:
    """The partner pays a failed invoice now (say, after changing the default card)."""
    _require_partner_writer(actor)
    if invoice.status == PlatformInvoice.Status.PAID:
        raise Conflict("this invoice is paid", type="already_paid")
    return invoice_collect(invoice=invoice, now=now, off_session=False)


# --- the daily run -----------------------------------------------------------------------------


def subscriptions_bill(*, now: datetime) -> int:
    """Roll ended periods, collect open invoices, retry failed ones and suspend partners
    past their grace period. Returns how many of those things it did."""
    done = 0
    due = BillingAccount.objects.filter(
        partner__status=Partner.Status.ACTIVE,
        current_period_end__isnull=False,
        current_period_end__lte=now,
    ).values_list("pk", flat=True)
    for account_id in list(due):
        while _roll_once(account_id, now):  # one invoice per missed month
            done += 1
    retry_before = now - RETRY_EVERY + timedelta(minutes=5)
    # Open: never charged, or the run stopped mid-charge. Failed: tried again once a day.
    to_collect = PlatformInvoice.objects.filter(
        Q(status=PlatformInvoice.Status.OPEN)
        | Q(status=PlatformInvoice.Status.FAILED, last_attempt_at__lte=retry_before),
        partner__status=Partner.Status.ACTIVE,
        created_at__lte=now,
    )
    for invoice in to_collect.select_related("partner").order_by("number"):
        invoice_collect(invoice=invoice, now=now)
        done += 1
    grace_start = now - timedelta(days=GRACE_DAYS)
    for account in BillingAccount.objects.filter(
        partner__status=Partner.Status.ACTIVE, past_due_since__lte=grace_start
    ).select_related("partner"):
        with transaction.atomic():
            done += partner_suspend_for_billing(
                partner=account.partner,
                from_status=Partner.Status.ACTIVE,
                reason="unpaid",
                now=now,
                template="billing/emails/subscription_suspended.txt",
                subject="Service suspended: the subscription is unpaid",
            )
    return done
