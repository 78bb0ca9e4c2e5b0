"""A partner's platform plan: trial, activation, plan changes and the extension cap.

The cycle is the calendar month in UTC. Whatever is charged for part of a month is
prorated by days, counting the day of the change as a whole day:

    charge = monthly fee × days left ÷ days in the month,   days left = days in month − day + 1

rounded half-up to the cent once, on the result (activation on the 1st pays the whole fee,
on the 31st of a 31-day month 1/31 of it). An upgrade charges the difference of the two
fees the same way and applies at once; a downgrade waits for the end of the cycle, where
the monthly run (`billing/subscription_cycle.py`) applies it.

Card charges go through `payment_services.card_charge_default`, outside any transaction;
what a successful charge changes is written afterwards in one transaction, so a declined
card changes nothing here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.billing import ledger
from trunkline.billing.invoices_platform import invoice_issue
from trunkline.billing.models import (
    BillingAccount,
    Plan,
    PlanPeriod,
    PlanPrice,
    PlatformInvoice,
    Posting,
)
from trunkline.billing.payment_services import (
    CardAuthenticationRequired,
    CardDeclined,
    PaymentMethodRequired,
    billing_account_for,
    card_charge_default,
    default_payment_method,
)
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, changed_fields, event_emit
from trunkline.core.email import TRANSACTIONAL, send_branded_email
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.core.money import MICROS_PER_UNIT, Money

# Credited to the wallet at activation, on top of the first month's fee: enough for the
# first numbers and minutes, small enough not to surprise anyone on the card statement.
INITIAL_WALLET_CREDIT = Money(50 * MICROS_PER_UNIT)
# Tiers in order; an upgrade moves right.
TIER_ORDER = (Plan.STARTER, Plan.PROFESSIONAL, Plan.BUSINESS, Plan.ENTERPRISE)
SELF_SERVICE_PLANS = (Plan.STARTER, Plan.PROFESSIONAL, Plan.BUSINESS)
_CENT = Decimal("0.01")


class PlanLimitReached(Conflict):
    """The plan's extension cap; the message names the tier that would allow more."""

    type = "plan_limit"

    def __init__(self, message: str, *, limit: int, upgrade_to: str | None):
        super().__init__(message)
        self.limit, self.upgrade_to = limit, upgrade_to


class ContactSales(Conflict):
    type = "contact_sales"


# --- the calendar and proration ---------------------------------------------------------


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    start = month_start(moment)
    return (start + timedelta(days=32)).replace(day=1)


def days_left_in_month(moment: datetime) -> tuple[int, int]:
    """(days left counting today, days in the month), in UTC."""
    moment = moment.astimezone(UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return days - moment.day + 1, days


def prorate(amount: Money, *, days_left: int, days_in_month: int) -> Money:
    """`amount` × days_left ÷ days_in_month, rounded half-up to the cent."""
    exact = Decimal(amount.micros) * days_left / days_in_month / MICROS_PER_UNIT
    cents = exact.quantize(_CENT, rounding=ROUND_HALF_UP)
    return Money(int(cents * MICROS_PER_UNIT), amount.currency)


# --- prices ------------------------------------------------------------------------------


def plan_price_at(*, partner, plan: str, at: datetime) -> PlanPrice | None:
    """The price row in force for `partner` on `plan` at `at`: the partner's own (an
    Enterprise contract) wins over the tier's list price, as in rating."""
    rows = PlanPrice.objects.filter(plan=plan, effective_from__lte=at).order_by("-effective_from")
    return rows.filter(partner=partner).first() or rows.filter(partner__isnull=True).first()


def upcoming_prices(*, partner, plan: str, now: datetime) -> list[PlanPrice]:
    """Price rows for the partner's plan that take effect after `now`."""
    return list(
        PlanPrice.objects.filter(plan=plan, effective_from__gt=now)
        .filter(Q(partner=partner) | Q(partner__isnull=True))
        .order_by("effective_from")
    )


def _fee(*, partner, plan: str, at: datetime) -> Money:
    price = plan_price_at(partner=partner, plan=plan, at=at)
    if price is None:
        if plan == Plan.ENTERPRISE:
            raise ContactSales(
                "Enterprise prices are agreed with our sales team: contact sales", field="plan"
            )
        raise Conflict(f"no {plan} price is in force", field="plan")
    return Money(price.monthly_fee_micros)


def _label(plan: str) -> str:
    return Plan(plan).label


# --- the subscription as others see it --------------------------------------------------


def subscription_snapshot(*, partner: Partner, account: BillingAccount, now: datetime) -> dict:
    """The subscription in event payloads (`subscription.*`) and audit rows."""
    price = plan_price_at(partner=partner, plan=account.plan, at=now)

    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "partner_id": partner.id,
        "plan": account.plan,
        "status": partner.status,
        "pending_plan": account.pending_plan or None,
        "trial_ends_at": iso(partner.trial_ends_at),
        "activated_at": iso(account.activated_at),
        "current_period_start": iso(account.current_period_start),
        "current_period_end": iso(account.current_period_end),
        "past_due_since": iso(account.past_due_since),
        "monthly_fee": Money(price.monthly_fee_micros).to_json() if price else None,
    }


def _announce(*, actor, partner, account, before: dict, now, action: str) -> None:
    after = subscription_snapshot(partner=partner, account=account, now=now)
    audit_record(
        actor=actor,
        partner=partner,
        action=action,
        object_type="subscription",
        object_id=partner.id,
        before=before,
        after=after,
    )
    changes = changed_fields(before, after)
    if changes:
        event_emit(
            partner=partner,
            type="subscription.updated",
            data={
                "subscription": after,
                "previous_attributes": {key: before.get(key) for key in changes},
            },
        )


def _require_partner_writer(actor: Actor) -> Partner:
    if actor.partner is None:
        raise NotFound("no subscription: the caller is not a partner")
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.tenant_ids is not None:
        raise PermissionDenied("a key limited to some tenants cannot change the subscription")
    # The actor's copy may predate a change (an API key's record is cached).
    return Partner.objects.get(pk=actor.partner.pk)


def _locked(partner: Partner) -> tuple[Partner, BillingAccount]:
    billing_account_for(partner)
    account = BillingAccount.objects.select_for_update().get(partner=partner)
    partner = Partner.objects.select_for_update(no_key=True).get(pk=partner.pk)
    return partner, account


def _switch_plan_period(*, partner, plan: str, at: datetime) -> None:
    """Close the open tier period at `at` and open `plan` from then (rating reads these)."""
    PlanPeriod.objects.filter(partner=partner, ends_at__isnull=True).update(ends_at=at)
    PlanPeriod.objects.filter(partner=partner, starts_at__gte=at).delete()
    PlanPeriod.objects.create(partner=partner, plan=plan, starts_at=at)


def _charge_or_refuse(*, partner, amount: Money, description: str, key: str, now):
    """Charge the default card while the partner waits; a refusal raises and changes nothing."""
    charge = card_charge_default(
        partner=partner,
        amount=amount,
        description=description,
        idempotency_key=key,
        off_session=False,
        now=now,
    )
    if charge.status == "requires_action":
        raise CardAuthenticationRequired(
            "the bank asks the cardholder to confirm this payment; use another card or confirm "
            "it in the portal"
        )
    if charge.status != "succeeded":
        raise CardDeclined(f"the card was declined: {charge.message or 'no reason given'}")
    return charge


def _check_plan_choice(*, partner, plan: str, now) -> None:
    if plan not in Plan.values:
        raise ValidationFailed(f"plan is one of {', '.join(SELF_SERVICE_PLANS)}", field="plan")
    if (
        plan == Plan.ENTERPRISE
        and not PlanPrice.objects.filter(
            partner=partner, plan=Plan.ENTERPRISE, effective_from__lte=now
        ).exists()
    ):
        raise ContactSales(
            "Enterprise is arranged with our sales team: contact sales for a quote", field="plan"
        )


# --- activation ----------------------------------------------------------------------------


def activation_quote(*, partner, plan: str, now: datetime) -> dict:
    days_left, days = days_left_in_month(now)
    fee = _fee(partner=partner, plan=plan, at=now)
    first_month = prorate(fee, days_left=days_left, days_in_month=days)
    return {
        "plan": plan,
        "monthly_fee": fee,
        "days_left": days_left,
        "days_in_month": days,
        "first_month": first_month,
        "wallet_credit": INITIAL_WALLET_CREDIT,
        "total": first_month + INITIAL_WALLET_CREDIT,
        "period_start": now,
        "period_end": next_month_start(now),
    }


def subscription_activate(*, actor: Actor, plan: str, now: datetime | None = None):
    """End the trial (or a suspension): charge the rest of this month on `plan` plus the
    initial wallet credit to the default card, then open the cycle. Returns the invoice."""
    now = now or timezone.now()
    partner = _require_partner_writer(actor)
    _check_plan_choice(partner=partner, plan=plan, now=now)
    if partner.status not in (Partner.Status.TRIAL, Partner.Status.SUSPENDED):
        raise Conflict(
            "the subscription is already active; change the plan instead",
            type="already_active",
        )
    method = default_payment_method(partner)
    if method is None:
        raise PaymentMethodRequired(
            "add a payment method before activating: the first month is charged to it"
        )
    quote = activation_quote(partner=partner, plan=plan, now=now)
    period = f"{now:%d %b} to {quote['period_end'] - timedelta(days=1):%d %b %Y}"
    charge = _charge_or_refuse(
        partner=partner,
        amount=quote["total"],
        description=f"{_label(plan)} plan {period} and initial wallet credit",
        # Same day, card, plan and amount: a retried request is the same charge.
        key=f"activation:{plan}:{method.id}:{now:%Y%m%d}:{quote['total'].micros}",
        now=now,
    )
    with transaction.atomic():
        partner, account = _locked(partner)
        if partner.status not in (Partner.Status.TRIAL, Partner.Status.SUSPENDED):
            # A concurrent activation won; this request's charge was the same one if it
            # was a retry, so there is nothing more to record.
            existing = PlatformInvoice.objects.filter(charge_id=charge.id).first()
            if existing is not None:
                return existing
            raise Conflict("the subscription was activated meanwhile", type="already_active")
        before = subscription_snapshot(partner=partner, account=account, now=now)
        invoice = invoice_issue(
            partner=partner,
            kind=PlatformInvoice.Kind.ACTIVATION,
            plan=plan,
            period_start=now,
            period_end=quote["period_end"],
            lines=[
                {
                    "description": f"{_label(plan)} plan, {period} "
                    f"({quote['days_left']}/{quote['days_in_month']} days)",
                    "quantity": 1,
                    "unit_amount_micros": quote["first_month"].micros,
                    "amount_micros": quote["first_month"].micros,
                },
                {
                    "description": "Initial wallet credit",
                    "quantity": 1,
                    "unit_amount_micros": INITIAL_WALLET_CREDIT.micros,
                    "amount_micros": INITIAL_WALLET_CREDIT.micros,
                },
            ],
            idempotency_key=f"activation:{charge.id}",
            now=now,
            paid_by=charge.id,
        )
        ledger.wallet_credit(
            partner=partner,
            amount=INITIAL_WALLET_CREDIT,
            type=Posting.Type.TOP_UP,
            actor=actor,
            idempotency_key=f"activation-credit:{invoice.id}",
            memo="Initial wallet credit",
            reference=invoice.id,
            now=now,
        )
        _switch_plan_period(partner=partner, plan=plan, at=now)
        account.plan = plan
        account.pending_plan = ""
        account.activated_at = now
        account.current_period_start = now
        account.current_period_end = quote["period_end"]
        account.past_due_since = None
        account.updated_at = now
        account.save()
        partner.status = Partner.Status.ACTIVE
        partner.save(update_fields=["status"])
        after = subscription_snapshot(partner=partner, account=account, now=now)
        audit_record(
            actor=actor,
            partner=partner,
            action="subscription.activated",
            object_type="subscription",
            object_id=partner.id,
            before=before,
            after=after,
        )
        event_emit(
            partner=partner,
            type="subscription.activated",
            data={"subscription": after, "invoice_id": invoice.id},
        )
    return invoice


# --- changing the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    plan: str
    current_plan: str
    direction: str  # upgrade | downgrade | cancel_downgrade
    new_monthly_fee: Money
    prorated_charge: Money
    amount_due_now: Money
    days_left: int
    days_in_month: int
    effective_at: datetime
    confirmed: bool = False
    invoice: PlatformInvoice | None = None


def _plan_change_quote(*, partner, account, plan: str, now) -> PlanChange:
    current = account.plan
    new_fee = _fee(partner=partner, plan=plan, at=now)
    days_left, days = days_left_in_month(now)
    zero = Money.zero()
    if plan == current:
        if not account.pending_plan:
            raise Conflict(f"the partner is already on {_label(plan)}", field="plan")
        return PlanChange(
            plan, current, "cancel_downgrade", new_fee, zero, zero, days_left, days, now
        )
    if TIER_ORDER.index(plan) > TIER_ORDER.index(current):
        difference = new_fee - _fee(partner=partner, plan=current, at=now)
        charge = (
            prorate(difference, days_left=days_left, days_in_month=days)
            if difference.micros > 0
            else zero
        )
        return PlanChange(plan, current, "upgrade", new_fee, charge, charge, days_left, days, now)
    return PlanChange(
        plan,
        current,
        "downgrade",
        new_fee,
        zero,
        zero,
        days_left,
        days,
        account.current_period_end or next_month_start(now),
    )


def subscription_change_plan(
    *, actor: Actor, plan: str, confirm: bool, now: datetime | None = None
) -> PlanChange:
    """Preview (`confirm=False`) or make a plan change.

    An upgrade charges the prorated difference of the fees to the card and applies now;
    a downgrade is kept as the pending plan and applied when the cycle ends; choosing the
    current plan again drops a pending downgrade.
    """
    now = now or timezone.now()
    partner = _require_partner_writer(actor)
    _check_plan_choice(partner=partner, plan=plan, now=now)
    if partner.status != Partner.Status.ACTIVE:
        raise Conflict(
            "activate the account first; activation takes the plan you choose",
            type="not_active",
        )
    account = billing_account_for(partner)
    quote = _plan_change_quote(partner=partner, account=account, plan=plan, now=now)
    if quote.direction == "downgrade":
        plan_extension_cap_check(
            partner=partner, current=billable_extensions(partner, now), adding=0, plan=plan
        )
    if not confirm:
        return quote
    charge = None
    if quote.amount_due_now.micros > 0:
        method = default_payment_method(partner)
        if method is None:
            raise PaymentMethodRequired("add a payment method: the upgrade is charged to it")
        charge = _charge_or_refuse(
            partner=partner,
            amount=quote.amount_due_now,
            description=f"Upgrade from {_label(quote.current_plan)} to {_label(plan)}, "
            f"rest of {now:%B %Y}",
            key=f"upgrade:{account.current_period_start:%Y%m%d}:{quote.current_plan}:{plan}:"
            f"{method.id}:{quote.amount_due_now.micros}",
            now=now,
        )
    with transaction.atomic():
        partner, account = _locked(partner)
        if account.plan != quote.current_plan:
            raise Conflict("the plan changed meanwhile; review the change again")
        before = subscription_snapshot(partner=partner, account=account, now=now)
        invoice = None
        if quote.direction == "upgrade":
            if charge is not None:
                invoice = invoice_issue(
                    partner=partner,
                    kind=PlatformInvoice.Kind.UPGRADE,
                    plan=plan,
                    period_start=now,
                    period_end=account.current_period_end or next_month_start(now),
                    lines=[
                        {
                            "description": f"Upgrade {_label(quote.current_plan)} to "
                            f"{_label(plan)}, {quote.days_left}/{quote.days_in_month} days "
                            f"of {now:%B %Y}",
                            "quantity": 1,
                            "unit_amount_micros": quote.amount_due_now.micros,
                            "amount_micros": quote.amount_due_now.micros,
                        }
                    ],
                    idempotency_key=f"upgrade:{charge.id}",
                    now=now,
                    paid_by=charge.id,
                )
            _switch_plan_period(partner=partner, plan=plan, at=now)
            account.plan = plan
            account.pending_plan = ""
        elif quote.direction == "downgrade":
            account.pending_plan = plan
        else:
            account.pending_plan = ""
        account.updated_at = now
        account.save()
        _announce(
            actor=actor,
            partner=partner,
            account=account,
            before=before,
            now=now,
            action=f"subscription.{quote.direction}",
        )
    return PlanChange(**{**quote.__dict__, "confirmed": True, "invoice": invoice})


# --- Enterprise, set by platform staff ------------------------------------------------------

PRICE_FIELDS = (
    "monthly_fee_micros",
    "max_extensions",
    "extension_monthly_micros",
    "did_local_monthly_micros",
    "did_toll_free_monthly_micros",
    "minute_local_micros",
    "minute_toll_free_micros",
)


def plan_price_schedule(
    *,
    actor: Actor,
    plan: str,
    prices: dict,
    effective_from: datetime,
    partner: Partner | None = None,
    note: str = "",
    now: datetime | None = None,
) -> PlanPrice:
    """A new price row for a tier (or a partner's own, with `partner`), from
    `effective_from` on. Prices change only forward: what was metered before keeps the
    price it had, so a row cannot start in the past."""
    now = now or timezone.now()
    if not actor.is_staff:
        raise PermissionDenied("prices are set by platform staff")
    if plan not in Plan.values:
        raise ValidationFailed("unknown plan", field="plan")
    if plan == Plan.ENTERPRISE and partner is None:
        raise ValidationFailed("Enterprise prices belong to one partner", field="partner")
    if effective_from < now:
        raise ValidationFailed(
            "a price change takes effect now or later, never in the past",
            field="effective_from",
        )
    missing = [name for name in PRICE_FIELDS if name not in prices and name != "max_extensions"]
    if missing:
        raise ValidationFailed(f"{missing[0]} is required", field=missing[0])
    for name in PRICE_FIELDS:
        value = prices.get(name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValidationFailed(f"{name} is a whole number of micro-dollars", field=name)
    with transaction.atomic():
        row = PlanPrice.objects.create(
            plan=plan,
            partner=partner,
            effective_from=effective_from,
            note=note[:200],
            **{name: prices.get(name) for name in PRICE_FIELDS},
        )
        audit_record(
            actor=actor,
            partner=partner,
            action="plan_price.scheduled",
            object_type="plan_price",
            object_id=str(row.pk),
            after={
                "plan": plan,
                "effective_from": effective_from.isoformat(),
                **{name: prices.get(name) for name in PRICE_FIELDS},
            },
        )
    return row


def enterprise_plan_set(
    *, actor: Actor, partner: Partner, prices: dict, now: datetime | None = None
) -> PlanPrice:
    """Staff put a partner on Enterprise with its agreed prices, in force from now.

    An active partner moves at once, without a prorated charge: its contract settles
    the current month, and the monthly run charges the Enterprise fee from the next
    cycle. A partner still in trial (or suspended) activates onto Enterprise itself.
    """
    now = now or timezone.now()
    row = plan_price_schedule(
        actor=actor,
        plan=Plan.ENTERPRISE,
        prices=prices,
        effective_from=now,
        partner=partner,
        note="Enterprise agreement",
        now=now,
    )
    with transaction.atomic():
        partner, account = _locked(partner)
        if partner.status == Partner.Status.ACTIVE and account.plan != Plan.ENTERPRISE:
            before = subscription_snapshot(partner=partner, account=account, now=now)
            _switch_plan_period(partner=partner, plan=Plan.ENTERPRISE, at=now)
            account.plan = Plan.ENTERPRISE
            account.pending_plan = ""
            account.updated_at = now
            account.save()
            _announce(
                actor=actor,
                partner=partner,
                account=account,
                before=before,
                now=now,
                action="subscription.enterprise",
            )
    return row


# --- the extension cap -------------------------------------------------------------------------


def billable_extensions(partner, at: datetime) -> int:
    from trunkline.billing.subscription_cycle import billable_count

    return billable_count("extensions", partner=partner, at=at)


def plan_extension_cap_check(
    *,
    partner,
    current: int,
    adding: int = 1,
    plan: str | None = None,
    now: datetime | None = None,
) -> None:
    """Refuse (409 `plan_limit`) when `current + adding` extensions exceed the plan's cap,
    naming the smallest tier that would hold them. `plan` defaults to the partner's own."""
    now = now or timezone.now()
    if plan is None:
        plan = (
            BillingAccount.objects.filter(partner=partner).values_list("plan", flat=True).first()
            or Plan.STARTER
        )
    price = plan_price_at(partner=partner, plan=plan, at=now)
    wanted = current + adding
    if price is None or price.max_extensions is None or wanted <= price.max_extensions:
        return
    upgrade_to, room = None, None
    for tier in TIER_ORDER[TIER_ORDER.index(plan) + 1 : TIER_ORDER.index(Plan.ENTERPRISE)]:
        tier_price = plan_price_at(partner=partner, plan=tier, at=now)
        if tier_price is not None and (
            tier_price.max_extensions is None or tier_price.max_extensions >= wanted
        ):
            upgrade_to, room = tier, tier_price.max_extensions
            break
    cap = f"{price.max_extensions:,}"
    if upgrade_to is None:
        hint = "contact sales about Enterprise for more"
    else:
        allows = "unlimited extensions" if room is None else f"up to {room:,} extensions"
        hint = f"upgrade to {_label(upgrade_to)} for {allows}"
    raise PlanLimitReached(
        f"the {_label(plan)} plan allows up to {cap} extensions; {hint}",
        limit=price.max_extensions,
        upgrade_to=upgrade_to or Plan.ENTERPRISE,
    )


# --- the trial's end ------------------------------------------------------------------------------


def _notify(
    partner: Partner, *, subject: str, template: str, context: dict, attachments=()
) -> None:
    from trunkline.accounts.selectors import partner_admin_emails

    recipients = sorted({partner.billing_email, *partner_admin_emails(partner)} - {""})
    # From the platform, not under the partner's own brand: this is the platform's bill.
    send_branded_email(
        partner=None,
        to=recipients,
        category=TRANSACTIONAL,
        subject=subject,
        body=render_to_string(template, {"partner": partner, **context}),
        attachments=attachments,
    )


def partner_suspend_for_billing(
    *,
    partner: Partner,
    from_status: str,
    reason: str,
    now: datetime,
    template: str,
    subject: str,
    context=None,
) -> bool:
    """Suspend a partner that is still in `from_status` for a billing reason, inside the
    caller's transaction with the rows locked; emails the partner after commit."""
    partner, account = _locked(partner)
    if partner.status != from_status:
        return False
    before = subscription_snapshot(partner=partner, account=account, now=now)
    partner.status = Partner.Status.SUSPENDED
    partner.save(update_fields=["status"])
    _announce(
        actor=Actor.system(partner=partner),
        partner=partner,
        account=account,
        before=before,
        now=now,
        action=f"subscription.suspended_{reason}",
    )
    _notify(partner, subject=subject, template=template, context=context or {})
    return True


def trials_expire(*, now: datetime) -> int:
    """Suspend every partner whose trial ended without activation; returns how many."""
    due = Partner.objects.filter(
        status=Partner.Status.TRIAL, trial_ends_at__lte=now, deleted_at__isnull=True
    ).values_list("pk", flat=True)
    suspended = 0
    for partner_id in list(due):
        with transaction.atomic():
            partner = Partner.objects.get(pk=partner_id)
            if partner.trial_ends_at is None or partner.trial_ends_at > now:
                continue
            suspended += partner_suspend_for_billing(
                partner=partner,
                from_status=Partner.Status.TRIAL,
                reason="trial_ended",
                now=now,
                template="billing/emails/trial_ended.txt",
                subject="Your trial has ended: activate to restore service",
            )
    return suspended
