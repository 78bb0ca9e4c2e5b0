"""Cards on file, top-ups, auto-recharge and call blocking, through the simulated processor
(Stripe's test card numbers)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from tests.factories import make_partner, make_user
from trunkline.accounts.models import User
from trunkline.billing import ledger, payment_services
from trunkline.billing.models import BillingAccount, PaymentMethod, Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, PaymentRequired, TrunklineError, ValidationFailed
from trunkline.core.models import AuditEntry, Event
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
INSUFFICIENT = "4000000000009995"
DECLINES_ON_CHARGE = "4000000000000341"
NEEDS_3DS = "4000002500003155"
DECLINED_AT_ATTACH = "4000000000000002"
NOON = datetime(2026, 11, 3, 12, tzinfo=UTC)
S = payment_services


def dollars(text):
    return Money.parse(text)


@pytest.fixture
def actor(partner):
    return Actor.system(partner=partner)


def add(partner, actor, number=VISA):
    return S.payment_method_add(partner=partner, actor=actor, token=number)


def account(partner):
    return BillingAccount.objects.get(partner=partner)


def spend(partner, amount, key):
    """Usage posted like call records are: the balance may go below zero."""
    ledger.wallet_debit(
        partner=partner,
        amount=dollars(amount),
        type=Posting.Type.USAGE_LOCAL,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        allow_negative=True,
    )


# --- payment methods ----------------------------------------------------------------


def test_first_card_is_the_default_and_only_its_description_is_kept(partner, actor):
    first = add(partner, actor)
    second = add(partner, actor, MASTERCARD)
    assert first.is_default and not second.is_default
    assert (first.brand, first.last4) == ("visa", "4242")
    stored = PaymentMethod.objects.filter(partner=partner).values()
    assert not any(VISA in str(value) for row in stored for value in row.values())
    assert [m.id for m in S.payment_methods_of(partner)] == [first.id, second.id]
    assert Event.objects.filter(partner=partner, type="payment_method.attached").count() == 2


def test_adding_the_same_card_twice_keeps_one(partner, actor):
    assert add(partner, actor).id == add(partner, actor).id
    assert S.payment_methods_of(partner).count() == 1


@pytest.mark.parametrize(
    ("token", "error"),
    [(DECLINED_AT_ATTACH, PaymentRequired), ("1234", ValidationFailed), ("", ValidationFailed)],
)
def test_cards_refused_at_attach_are_not_kept(partner, actor, token, error):
    with pytest.raises(error):
        add(partner, actor, token)
    assert not PaymentMethod.objects.filter(partner=partner).exists()


def test_set_default_moves_the_flag(partner, actor):
    first, second = add(partner, actor), add(partner, actor, MASTERCARD)
    S.payment_method_set_default(partner=partner, actor=actor, payment_method_id=second.id)
    assert S.default_payment_method(partner).id == second.id
    first.refresh_from_db()
    assert not first.is_default
    assert AuditEntry.objects.filter(partner=partner, action="payment_method.default_set").exists()


def test_deleting_the_default_promotes_another_card(partner, actor):
    first, second = add(partner, actor), add(partner, actor, MASTERCARD)
    S.payment_method_delete(partner=partner, actor=actor, payment_method_id=first.id)
    assert [m.id for m in S.payment_methods_of(partner)] == [second.id]
    assert S.default_payment_method(partner).id == second.id
    first.refresh_from_db()
    assert first.deleted_at is not None  # kept for the record, gone from the list


def test_deleting_the_only_card_turns_auto_recharge_off(partner, actor):
    card = add(partner, actor)
    S.wallet_auto_recharge_update(
        partner=partner, actor=actor, enabled=True, threshold=dollars("0"), amount=dollars("50")
    )
    S.payment_method_delete(partner=partner, actor=actor, payment_method_id=card.id)
    settings = S.wallet_auto_recharge_settings(partner)
    assert settings["enabled"] is False
    assert settings["disabled_reason"] == S.NO_CARD_REASON


def test_another_partners_card_is_not_found(partner, actor):
    other, _ = make_partner()
    foreign = add(other, Actor.system(partner=other))
    for operation in (S.payment_method_set_default, S.payment_method_delete):
        with pytest.raises(NotFound):
            operation(partner=partner, actor=actor, payment_method_id=foreign.id)
    foreign.refresh_from_db()
    assert foreign.is_default and foreign.deleted_at is None


# --- top-ups ------------------------------------------------------------------------------


def test_top_up_credits_the_wallet_once_per_key(partner, actor):
    add(partner, actor)
    posting = S.wallet_top_up(
        partner=partner, actor=actor, amount=dollars("75"), idempotency_key="a"
    )
    assert (
        S.wallet_top_up(partner=partner, actor=actor, amount=dollars("75"), idempotency_key="a").id
        == posting.id
    )
    assert ledger.wallet_balance(partner) == dollars("75")
    assert posting.type == "top_up" and posting.reference.startswith("ch_sim_")
    S.wallet_top_up(partner=partner, actor=actor, amount=dollars("75"), idempotency_key="b")
    assert ledger.wallet_balance(partner) == dollars("150")


@pytest.mark.parametrize(
    ("number", "status", "kind", "message"),
    [
        (INSUFFICIENT, 402, "card_declined", "insufficient funds"),
        (DECLINES_ON_CHARGE, 402, "card_declined", "card declined"),
        (NEEDS_3DS, 409, "authentication_required", "your bank asks you to confirm this payment"),
    ],
)
def test_top_up_failures_post_nothing(partner, actor, number, status, kind, message):
    add(partner, actor, number)
    with pytest.raises(TrunklineError) as raised:
        S.wallet_top_up(partner=partner, actor=actor, amount=dollars("20"), idempotency_key="x")
    error = raised.value
    assert (error.status, error.type) == (status, kind)
    assert message in error.message
    assert ledger.wallet_balance(partner) == Money(0)
    assert Event.objects.filter(partner=partner, type="payment.failed").count() == 1


def test_top_up_without_a_card(partner, actor):
    with pytest.raises(S.PaymentMethodRequired):
        S.wallet_top_up(partner=partner, actor=actor, amount=dollars("20"), idempotency_key="x")


@pytest.mark.parametrize("amount", ["9.99", "10000.01", "20.005", "-5"])
def test_top_up_amount_limits(partner, actor, amount):
    add(partner, actor)
    with pytest.raises(ValidationFailed) as raised:
        S.wallet_top_up(partner=partner, actor=actor, amount=dollars(amount), idempotency_key="x")
    assert raised.value.field == "amount"


# --- auto-recharge ----------------------------------------------------------------------


def enable(partner, actor, threshold="50", amount="200"):
    return S.wallet_auto_recharge_update(
        partner=partner,
        actor=actor,
        enabled=True,
        threshold=dollars(threshold),
        amount=dollars(amount),
    )


@pytest.mark.parametrize(
    ("threshold", "amount", "field"),
    [("50", "9.99", "amount"), ("-0.01", "50", "threshold"), ("50", "10.001", "amount")],
)
def test_auto_recharge_settings_are_validated(partner, actor, threshold, amount, field):
    add(partner, actor)
    with pytest.raises(ValidationFailed) as raised:
        enable(partner, actor, threshold, amount)
    assert raised.value.field == field


def test_auto_recharge_needs_a_card(partner, actor):
    with pytest.raises(S.PaymentMethodRequired):
        enable(partner, actor)
    # Settings can still be saved switched off.
    S.wallet_auto_recharge_update(
        partner=partner, actor=actor, enabled=False, threshold=dollars("0"), amount=dollars("10")
    )
    assert S.wallet_auto_recharge_settings(partner)["threshold"] == "0.00"


def test_auto_recharge_fires_below_the_threshold_at_most_once_an_hour(partner, actor):
    add(partner, actor)
    enable(partner, actor, threshold="50", amount="200")
    assert S.wallet_auto_recharge_check(partner=partner, now=NOON) is not None
    assert ledger.wallet_balance(partner) == dollars("200")
    spend(partner, "190", "u1")  # 10.00 left, below 50
    for minutes in (1, 30, 59):
        assert (
            S.wallet_auto_recharge_check(partner=partner, now=NOON + timedelta(minutes=minutes))
            is None
        )
    assert ledger.wallet_balance(partner) == dollars("10")
    assert S.wallet_auto_recharge_check(partner=partner, now=NOON + timedelta(hours=1)) is not None
    assert ledger.wallet_balance(partner) == dollars("210")
    # Above the threshold nothing happens, whatever the time.
    assert S.wallet_auto_recharge_check(partner=partner, now=NOON + timedelta(hours=5)) is None
    top_ups = Posting.objects.filter(partner=partner, type="top_up")
    assert [p.memo for p in top_ups] == ["Auto-recharge", "Auto-recharge"]


def test_auto_recharge_off_does_nothing(partner, actor):
    add(partner, actor)
    assert S.wallet_auto_recharge_check(partner=partner, now=NOON) is None
    assert ledger.wallet_balance(partner) == Money(0)


@pytest.mark.parametrize("number", [INSUFFICIENT, DECLINES_ON_CHARGE, NEEDS_3DS])
def test_a_failed_recharge_emails_the_admins_and_turns_it_off(
    partner, admin, actor, number, django_capture_on_commit_callbacks
):
    admin.email_verified_at = NOON
    admin.save()
    second_admin = make_user(partner, role=User.Role.PARTNER_ADMIN)
    make_user(partner)  # a read-only user is not emailed
    add(partner, actor, number)
    enable(partner, actor)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert S.wallet_auto_recharge_check(partner=partner, now=NOON) is None
    settings = S.wallet_auto_recharge_settings(partner)
    assert settings["enabled"] is False
    assert settings["disabled_reason"].startswith("auto-recharge failed: ")
    assert ledger.wallet_balance(partner) == Money(0)
    [message] = mail.outbox
    assert sorted(message.to) == sorted([admin.email, second_admin.email])
    assert "Auto-recharge failed" in message.subject
    assert "$200.00" in message.body and "Auto-recharge is now off" in message.body
    assert AuditEntry.objects.filter(partner=partner, action="wallet.auto_recharge_failed").exists()
    # Turned back on by the partner, it may fire again (after the hour).
    enable(partner, actor)
    assert S.wallet_auto_recharge_settings(partner)["disabled_reason"] == ""


# --- call blocking ---------------------------------------------------------------------


def test_calls_are_blocked_below_zero_and_unblocked_by_a_top_up(partner, actor):
    add(partner, actor)
    spend(partner, "3.50", "u1")
    S.wallet_balance_review(partner=partner, now=NOON)
    assert S.partner_calls_blocked(partner)
    assert account(partner).calls_blocked_at == NOON
    spend(partner, "1.00", "u2")  # an in-flight call ends: still owed, flag set once
    S.wallet_balance_review(partner=partner, now=NOON + timedelta(minutes=5))
    assert account(partner).calls_blocked_at == NOON
    assert AuditEntry.objects.filter(partner=partner, action="wallet.calls_blocked").count() == 1

    S.wallet_top_up(partner=partner, actor=actor, amount=dollars("10"), idempotency_key="t")
    assert ledger.wallet_balance(partner) == dollars("5.50")
    assert not S.partner_calls_blocked(partner)


def test_a_top_up_that_leaves_the_wallet_negative_keeps_the_block(partner, actor):
    add(partner, actor)
    spend(partner, "30", "u1")
    S.wallet_balance_review(partner=partner, now=NOON)
    S.wallet_top_up(partner=partner, actor=actor, amount=dollars("10"), idempotency_key="t")
    assert S.partner_calls_blocked(partner)


def test_a_working_auto_recharge_prevents_the_block(partner, actor):
    add(partner, actor)
    enable(partner, actor, threshold="0", amount="50")
    spend(partner, "3.50", "u1")
    S.wallet_balance_review(partner=partner, now=NOON)
    assert ledger.wallet_balance(partner) == dollars("46.50")
    assert not S.partner_calls_blocked(partner)


def test_a_failing_auto_recharge_blocks(partner, actor):
    add(partner, actor, INSUFFICIENT)
    enable(partner, actor, threshold="0", amount="50")
    spend(partner, "3.50", "u1")
    S.wallet_balance_review(partner=partner, now=NOON)
    assert S.partner_calls_blocked(partner)
    assert not S.wallet_auto_recharge_settings(partner)["enabled"]


def test_the_sweep_finds_low_negative_and_recovered_wallets(partner, actor):
    add(partner, actor)
    enable(partner, actor, threshold="20", amount="100")
    other, _ = make_partner()
    spend(other, "1", "o1")
    recovered, _ = make_partner()
    spend(recovered, "1", "r1")
    S.wallet_balance_review(partner=recovered, now=NOON)
    ledger.wallet_credit(
        partner=recovered,
        amount=dollars("5"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(),
        idempotency_key="r2",
    )
    quiet, _ = make_partner()
    assert S.wallet_review_sweep(now=NOON) == 3
    assert ledger.wallet_balance(partner) == dollars("100")
    assert S.partner_calls_blocked(other)
    assert not S.partner_calls_blocked(recovered)
    assert not S.partner_calls_blocked(quiet)
