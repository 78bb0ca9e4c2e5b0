"""Activation, plan changes, Enterprise, the extension cap and the trial's end, on a
fixed clock with the simulated card processor."""

from datetime import timedelta

import pytest
from django.core import mail

from tests.billing.subscription_helpers import (
    CONFIRM_CARD,
    DECLINING_CARD,
    add_card,
    at,
    partner_actor,
)
from tests.core.capture import capture_events
from trunkline.accounts.models import Partner
from trunkline.billing import ledger
from trunkline.billing.models import BillingAccount, PlanPeriod, PlanPrice, PlatformInvoice
from trunkline.billing.rates import RateBook
from trunkline.billing.subscriptions import (
    enterprise_plan_set,
    plan_extension_cap_check,
    plan_price_schedule,
    prorate,
    subscription_activate,
    subscription_change_plan,
    trials_expire,
)
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, PermissionDenied, TrunklineError, ValidationFailed
from trunkline.core.event_schemas import SubscriptionActivatedData, SubscriptionUpdatedData
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db


def dollars(text: str) -> Money:
    return Money.parse(text)


def state(partner):
    partner.refresh_from_db()
    account = BillingAccount.objects.filter(partner=partner).first()
    return partner.status, account.plan if account else None


# --- proration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "left", "days", "expected"),
    [
        ("249.00", 30, 30, "249.00"),  # the 1st: the whole month
        ("549.00", 16, 30, "292.80"),  # the 15th of November
        ("249.00", 1, 31, "8.03"),  # the 31st: 8.0322… rounds down
        ("0.25", 1, 2, "0.13"),  # exactly half a cent rounds up
        ("999.00", 1, 28, "35.68"),  # 35.678… rounds up
    ],
)
def test_proration_is_by_days_rounded_half_up_to_the_cent(fee, left, days, expected):
    assert prorate(dollars(fee), days_left=left, days_in_month=days) == dollars(expected)


# --- activation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "plan", "first_month", "period_end"),
    [
        (at(2026, 11, 1, 0, 0), "starter", "249.00", at(2026, 12, 1, 0, 0)),
        (at(2026, 11, 15), "professional", "292.80", at(2026, 12, 1, 0, 0)),
        (at(2027, 1, 31, 23, 59), "starter", "8.03", at(2027, 2, 1, 0, 0)),
    ],
)
def test_activation_charges_the_rest_of_the_month_and_the_wallet_credit(
    admin, now, plan, first_month, period_end
):
    partner = admin.partner
    add_card(partner)
    with capture_events(["subscription.activated"]) as events:
        invoice = subscription_activate(actor=partner_actor(admin), plan=plan, now=now)
    total = dollars(first_month) + dollars("50.00")
    assert invoice.status == PlatformInvoice.Status.PAID and invoice.charge_id
    assert [line["amount_micros"] for line in invoice.lines] == [
        dollars(first_month).micros,
        dollars("50.00").micros,
    ]
    assert invoice.total == total and invoice.kind == "activation"
    assert state(partner) == ("ACTIVE", plan)
    account = BillingAccount.objects.get(partner=partner)
    assert (account.current_period_start, account.current_period_end) == (now, period_end)
    assert ledger.wallet_balance(partner) == dollars("50.00")
    period = PlanPeriod.objects.get(partner=partner)
    assert (period.plan, period.starts_at, period.ends_at) == (plan, now, None)
    data = SubscriptionActivatedData.model_validate(events[0].payload)
    assert data.invoice_id == invoice.id and data.subscription.plan == plan


def test_activation_needs_a_default_payment_method(admin):
    with pytest.raises(Conflict) as refused:
        subscription_activate(actor=partner_actor(admin), plan="starter", now=at(2026, 11, 3))
    assert refused.value.type == "payment_method_required"
    assert "payment method" in refused.value.message
    assert state(admin.partner) == ("TRIAL", None)


@pytest.mark.parametrize(
    ("card", "status", "kind"),
    [(DECLINING_CARD, 402, "card_declined"), (CONFIRM_CARD, 409, "authentication_required")],
)
def test_a_refused_card_changes_nothing(admin, card, status, kind):
    partner = admin.partner
    add_card(partner, card)
    with pytest.raises(TrunklineError) as refused:
        subscription_activate(actor=partner_actor(admin), plan="business", now=at(2026, 11, 3))
    assert (refused.value.status, refused.value.type) == (status, kind)
    partner.refresh_from_db()
    assert partner.status == "TRIAL"
    assert not PlatformInvoice.objects.filter(partner=partner).exists()
    assert not PlanPeriod.objects.filter(partner=partner).exists()
    assert ledger.wallet_balance(partner) == Money.zero()
    account = BillingAccount.objects.filter(partner=partner).first()
    assert account is None or (account.activated_at is None and account.plan == "starter")


def test_enterprise_cannot_be_chosen_by_the_partner(admin):
    add_card(admin.partner)
    with pytest.raises(Conflict) as refused:
        subscription_activate(actor=partner_actor(admin), plan="enterprise", now=at(2026, 11, 3))
    assert refused.value.type == "contact_sales"


@pytest.mark.parametrize("plan", ["gold", "", "STARTER"])
def test_unknown_plans_are_refused(admin, plan):
    add_card(admin.partner)
    with pytest.raises(ValidationFailed) as refused:
        subscription_activate(actor=partner_actor(admin), plan=plan, now=at(2026, 11, 3))
    assert refused.value.field == "plan"


def test_an_active_partner_cannot_activate_again(admin):
    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(2026, 11, 3))
    with pytest.raises(Conflict) as refused:
        subscription_activate(actor=partner_actor(admin), plan="business", now=at(2026, 11, 4))
    assert refused.value.type == "already_active"


def test_a_read_only_user_cannot_activate(admin):
    add_card(admin.partner)
    reader = Actor(kind="user", partner=admin.partner, user=admin, can_write=False)
    with pytest.raises(PermissionDenied):
        subscription_activate(actor=reader, plan="starter", now=at(2026, 11, 3))


# --- the trial's end ------------------------------------------------------------------------------


def test_an_expired_trial_is_suspended_and_can_be_activated_later(
    admin, django_capture_on_commit_callbacks
):
    partner = admin.partner
    ends = partner.trial_ends_at
    assert trials_expire(now=ends - timedelta(minutes=1)) == 0
    mail.outbox.clear()
    with (
        capture_events(["subscription.updated"]) as events,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert trials_expire(now=ends + timedelta(hours=1)) == 1
    assert state(partner)[0] == "SUSPENDED"
    data = SubscriptionUpdatedData.model_validate(events[0].payload)
    assert data.previous_attributes == {"status": "TRIAL"}
    assert len(mail.outbox) == 1 and "trial has ended" in mail.outbox[0].subject
    assert partner.billing_email in mail.outbox[0].to
    assert trials_expire(now=ends + timedelta(hours=2)) == 0  # once

    add_card(partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=ends + timedelta(days=3))
    assert state(partner) == ("ACTIVE", "starter")


def test_an_activated_partner_is_not_suspended_when_its_trial_date_passes(admin):
    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(2026, 11, 3))
    assert trials_expire(now=admin.partner.trial_ends_at + timedelta(days=1)) == 0
    assert state(admin.partner)[0] == "ACTIVE"


# --- plan changes ------------------------------------------------------------


def activated(admin, plan="starter", now=None):
    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan=plan, now=now or at(2026, 11, 1, 0, 0))
    return admin.partner


def test_an_upgrade_preview_changes_nothing(admin):
    partner = activated(admin)
    preview = subscription_change_plan(
        actor=partner_actor(admin), plan="professional", confirm=False, now=at(2026, 11, 15)
    )
    assert preview.direction == "upgrade" and not preview.confirmed
    assert preview.new_monthly_fee == dollars("549.00")
    assert preview.prorated_charge == preview.amount_due_now == dollars("160.00")  # 300 × 16/30
    assert state(partner) == ("ACTIVE", "starter")
    assert PlatformInvoice.objects.filter(partner=partner).count() == 1


def test_an_upgrade_is_charged_prorated_and_applies_at_once(admin):
    partner = activated(admin)
    now = at(2026, 11, 15)
    with capture_events(["subscription.updated"]) as events:
        change = subscription_change_plan(
            actor=partner_actor(admin), plan="professional", confirm=True, now=now
        )
    assert change.confirmed and change.invoice.kind == "upgrade"
    assert change.invoice.total == dollars("160.00") and change.invoice.status == "paid"
    assert state(partner) == ("ACTIVE", "professional")
    periods = list(PlanPeriod.objects.filter(partner=partner).values_list("plan", "ends_at"))
    assert periods == [("starter", now), ("professional", None)]
    book = RateBook([partner.id])
    assert book.plan_at(partner.id, int((now - timedelta(seconds=1)).timestamp())) == "starter"
    assert book.plan_at(partner.id, int(now.timestamp())) == "professional"
    data = SubscriptionUpdatedData.model_validate(events[0].payload)
    assert data.previous_attributes["plan"] == "starter"


def test_a_declined_upgrade_changes_nothing(admin):
    partner = activated(admin)
    add_card(partner, DECLINING_CARD)
    with pytest.raises(TrunklineError) as refused:
        subscription_change_plan(
            actor=partner_actor(admin), plan="business", confirm=True, now=at(2026, 11, 20)
        )
    assert refused.value.type == "card_declined"
    assert state(partner) == ("ACTIVE", "starter")
    assert PlanPeriod.objects.filter(partner=partner).count() == 1


def test_a_downgrade_waits_for_the_end_of_the_cycle(admin):
    partner = activated(admin, plan="business")
    preview = subscription_change_plan(
        actor=partner_actor(admin), plan="starter", confirm=False, now=at(2026, 11, 10)
    )
    assert preview.direction == "downgrade"
    assert preview.amount_due_now == Money.zero()
    assert preview.effective_at == at(2026, 12, 1, 0, 0)
    subscription_change_plan(
        actor=partner_actor(admin), plan="starter", confirm=True, now=at(2026, 11, 10)
    )
    account = BillingAccount.objects.get(partner=partner)
    assert (account.plan, account.pending_plan) == ("business", "starter")
    assert list(PlanPeriod.objects.filter(partner=partner).values_list("plan", flat=True)) == [
        "business"
    ]
    # Choosing the current plan again drops the pending downgrade.
    change = subscription_change_plan(
        actor=partner_actor(admin), plan="business", confirm=True, now=at(2026, 11, 11)
    )
    assert change.direction == "cancel_downgrade"
    assert BillingAccount.objects.get(partner=partner).pending_plan == ""


def test_changing_to_the_same_plan_without_a_pending_change_is_a_conflict(admin):
    activated(admin)
    with pytest.raises(Conflict):
        subscription_change_plan(
            actor=partner_actor(admin), plan="starter", confirm=False, now=at(2026, 11, 2)
        )


def test_a_trial_partner_activates_instead_of_changing_plan(admin):
    with pytest.raises(Conflict) as refused:
        subscription_change_plan(
            actor=partner_actor(admin), plan="business", confirm=False, now=at(2026, 11, 2)
        )
    assert refused.value.type == "not_active"


# --- Enterprise and rate changes ------------------------------------------------------------------

ENTERPRISE = {
    "monthly_fee_micros": 2_500_000_000,
    "max_extensions": None,
    "extension_monthly_micros": 900_000,
    "did_local_monthly_micros": 1_000_000,
    "did_toll_free_monthly_micros": 1_500_000,
    "minute_local_micros": 11_000,
    "minute_toll_free_micros": 14_000,
}


def test_staff_put_a_partner_on_enterprise_with_its_own_prices(admin):
    partner = activated(admin, plan="business")
    with pytest.raises(PermissionDenied):
        enterprise_plan_set(
            actor=partner_actor(admin), partner=partner, prices=ENTERPRISE, now=at(2026, 11, 20)
        )
    with capture_events(["subscription.updated"]):
        enterprise_plan_set(
            actor=Actor.system(), partner=partner, prices=ENTERPRISE, now=at(2026, 11, 20)
        )
    assert state(partner) == ("ACTIVE", "enterprise")
    rates = RateBook([partner.id]).plan_rates(partner.id, int(at(2026, 11, 21).timestamp()))
    assert rates.local_per_minute == 11_000
    # Another partner still cannot pick Enterprise.
    from tests.factories import make_partner

    _, other_admin = make_partner()
    add_card(other_admin.partner)
    with pytest.raises(Conflict):
        subscription_activate(
            actor=partner_actor(other_admin), plan="enterprise", now=at(2026, 11, 20)
        )


def test_a_trial_partner_with_an_enterprise_agreement_activates_onto_it(admin):
    partner = admin.partner
    enterprise_plan_set(
        actor=Actor.system(), partner=partner, prices=ENTERPRISE, now=at(2026, 11, 1, 0, 0)
    )
    add_card(partner)
    invoice = subscription_activate(
        actor=partner_actor(admin), plan="enterprise", now=at(2026, 11, 16)
    )
    assert invoice.lines[0]["amount_micros"] == dollars("1250.00").micros  # 2,500 × 15/30


def test_price_changes_only_take_effect_forward(admin):
    with pytest.raises(ValidationFailed) as refused:
        plan_price_schedule(
            actor=Actor.system(),
            plan="starter",
            prices={**ENTERPRISE, "max_extensions": 300},
            effective_from=at(2026, 11, 1),
            now=at(2026, 11, 2),
        )
    assert refused.value.field == "effective_from"
    with pytest.raises(PermissionDenied):
        plan_price_schedule(
            actor=partner_actor(admin),
            plan="starter",
            prices=ENTERPRISE,
            effective_from=at(2026, 12, 1),
            now=at(2026, 11, 2),
        )
    row = plan_price_schedule(
        actor=Actor.system(),
        plan="starter",
        prices={**ENTERPRISE, "monthly_fee_micros": 259_000_000, "max_extensions": 300},
        effective_from=at(2026, 12, 1, 0, 0),
        now=at(2026, 11, 2),
    )
    assert PlanPrice.objects.filter(pk=row.pk, partner__isnull=True).exists()


# --- the extension cap ---------------------------------------------------------------------------


def test_starter_stops_at_300_extensions_with_a_hint_to_upgrade(partner):
    plan_extension_cap_check(partner=partner, current=299)
    plan_extension_cap_check(partner=partner, current=0, adding=300)
    with pytest.raises(Conflict) as refused:
        plan_extension_cap_check(partner=partner, current=300)
    error = refused.value
    assert (error.status, error.type) == (409, "plan_limit")
    assert "300" in error.message and "Professional" in error.message
    assert error.upgrade_to == "professional"


def test_a_large_batch_is_pointed_at_the_tier_that_holds_it(partner):
    with pytest.raises(Conflict) as refused:
        plan_extension_cap_check(partner=partner, current=200, adding=1200)
    assert refused.value.upgrade_to == "business" and "unlimited" in refused.value.message


def test_professional_stops_at_1000_and_business_has_no_cap(admin):
    partner = activated(admin, plan="professional")
    plan_extension_cap_check(partner=partner, current=999)
    with pytest.raises(Conflict) as refused:
        plan_extension_cap_check(partner=partner, current=1000)
    assert "Business" in refused.value.message
    subscription_change_plan(
        actor=partner_actor(admin), plan="business", confirm=True, now=at(2026, 11, 5)
    )
    plan_extension_cap_check(partner=partner, current=50_000)


def test_the_cap_check_reports_the_partner_status_unchanged(partner):
    with pytest.raises(Conflict):
        plan_extension_cap_check(partner=partner, current=300)
    assert Partner.objects.get(pk=partner.pk).status == "TRIAL"
