"""The ledger's rules: balanced, immutable, idempotent postings; the wallet moves only
through them (partner guide `004_*.txt`, "Account & Subscription": the History tab is a
complete ledger of every wallet credit and debit)."""

from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.db.models import Sum

from tests.factories import make_partner
from trunkline.billing import ledger
from trunkline.billing.ledger import Line
from trunkline.billing.models import Entry, LedgerAccount, Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, PaymentRequired, ValidationFailed
from trunkline.core.models import AuditEntry
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db
T = Posting.Type


def credit(partner, amount, key, type=T.TOP_UP, **extra):
    return ledger.wallet_credit(
        partner=partner,
        amount=Money.parse(amount),
        type=type,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        **extra,
    )


def debit(partner, amount, key, type=T.USAGE_LOCAL, **extra):
    return ledger.wallet_debit(
        partner=partner,
        amount=Money.parse(amount),
        type=type,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        **extra,
    )


def total_of_all_accounts() -> int:
    return LedgerAccount.objects.aggregate(total=Sum("balance_micros"))["total"] or 0


def test_credit_and_debit_move_the_wallet_and_balance_the_books(partner):
    credit(partner, "100.00", "t1")
    debit(partner, "0.014", "u1")
    debit(partner, "1.75", "d1", type=T.DID_MONTHLY_LOCAL, reference="did_x")
    assert ledger.wallet_balance(partner) == Money.parse("98.236")
    assert total_of_all_accounts() == 0
    for posting in Posting.objects.all():
        assert sum(posting.entries.values_list("amount_micros", flat=True)) == 0


def test_entries_record_the_running_balance(partner):
    credit(partner, "10", "t1")
    debit(partner, "2.5", "u1")
    wallet = ledger.wallet_account(partner)
    assert list(wallet.entries.values_list("balance_after_micros", flat=True)) == [
        10_000_000,
        7_500_000,
    ]


def test_the_same_key_posts_once(partner):
    first, created = credit(partner, "25.00", "topup-1")
    again, created_again = credit(partner, "25.00", "topup-1")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert ledger.wallet_balance(partner) == Money.parse("25")
    assert Posting.objects.count() == 1


def test_a_key_reused_for_different_money_is_refused(partner):
    credit(partner, "25.00", "topup-1")
    with pytest.raises(Conflict):
        credit(partner, "26.00", "topup-1")
    assert ledger.wallet_balance(partner) == Money.parse("25")


def test_purchases_cannot_overdraw_but_consumed_usage_can(partner):
    credit(partner, "1.00", "t1")
    with pytest.raises(PaymentRequired):
        debit(partner, "1.75", "did-1", type=T.DID_MONTHLY_LOCAL)
    assert ledger.wallet_balance(partner) == Money.parse("1")
    assert not Posting.objects.filter(idempotency_key="did-1").exists()
    # Minutes already talked are owed: the balance goes below zero.
    debit(partner, "1.50", "usage-1", allow_negative=True)
    assert ledger.wallet_balance(partner) == Money.parse("-0.5")
    assert total_of_all_accounts() == 0


@pytest.mark.parametrize(
    "lines",
    [
        [("a", "1.00")],  # one line
        [("a", "1.00"), ("b", "-0.99")],  # unbalanced
        [("a", "0"), ("b", "0")],  # nothing moves
    ],
)
def test_unbalanced_postings_are_refused(partner, lines):
    accounts = {
        "a": ledger.wallet_account(partner),
        "b": ledger.account_for(code=LedgerAccount.Code.ADJUSTMENTS),
    }
    with pytest.raises(ValidationFailed):
        ledger.posting_create(
            type=T.MANUAL_ADJUSTMENT,
            lines=[Line(accounts[name], Money.parse(amount)) for name, amount in lines],
            idempotency_key="bad",
            partner=partner,
        )
    assert not Posting.objects.exists() and not Entry.objects.exists()


def test_wrong_direction_and_non_positive_amounts_are_refused(partner):
    with pytest.raises(ValidationFailed):
        credit(partner, "5", "x", type=T.USAGE_LOCAL)
    with pytest.raises(ValidationFailed):
        debit(partner, "5", "y", type=T.TOP_UP)
    with pytest.raises(ValidationFailed):
        credit(partner, "0", "z")
    with pytest.raises(ValidationFailed):
        credit(partner, "-1", "w")
    assert not Posting.objects.exists()


def test_a_reversal_is_a_new_posting_and_happens_once(partner):
    posting, _ = debit(partner, "3.00", "ext-1", type=T.EXTENSION_MONTHLY, allow_negative=True)
    reversal, created = ledger.posting_reverse(posting=posting, actor=Actor.system(partner=partner))
    _, created_again = ledger.posting_reverse(posting=posting, actor=Actor.system(partner=partner))
    assert (created, created_again) == (True, False)
    assert reversal.reverses_id == posting.id
    assert ledger.wallet_balance(partner) == Money.zero()
    assert Entry.objects.filter(posting=posting).count() == 2  # the original stands


def test_a_failed_outer_transaction_leaves_no_money_behind(partner):
    with pytest.raises(RuntimeError), transaction.atomic():
        credit(partner, "50", "t1")
        raise RuntimeError("the purchase failed after the charge")
    assert ledger.wallet_balance(partner) == Money.zero()
    assert not Posting.objects.exists()


def test_manual_adjustments_are_audited(partner):
    posting, _ = credit(partner, "12.00", "adj-1", type=T.MANUAL_ADJUSTMENT, memo="goodwill")
    entry = AuditEntry.objects.get(object_id=posting.id)
    assert entry.action == "wallet.manual_adjustment"
    assert entry.after == {"amount": "12.00", "memo": "goodwill", "reference": ""}


def test_wallets_are_per_partner(partner):
    other, _ = make_partner()
    credit(partner, "10", "a")
    credit(other, "3", "b")
    assert ledger.wallet_balance(partner) == Money.parse("10")
    assert ledger.wallet_balance(other) == Money.parse("3")


def test_posting_time_can_be_given(partner):
    when = datetime(2026, 12, 1, tzinfo=UTC)
    posting, _ = credit(partner, "1", "t", now=when)
    assert posting.created_at == when
