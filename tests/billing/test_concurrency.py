"""20 concurrent top-ups and charges on PostgreSQL end at the exact balance: the row lock
serialises them, none is lost, and the books still sum to zero."""

import threading

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Sum

from tests.factories import make_partner
from trunkline.billing import ledger
from trunkline.billing.models import LedgerAccount, Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import PaymentRequired
from trunkline.core.money import Money

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def _together(work, count: int) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count
    failures: list = []

    def run(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = work(slot)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


def test_twenty_concurrent_top_ups_and_charges_give_the_exact_balance():
    partner, _ = make_partner()
    actor = Actor.system(partner=partner)

    def work(slot: int):
        if slot % 2:
            return ledger.wallet_credit(
                partner=partner,
                amount=Money.parse("10.00"),
                type=Posting.Type.TOP_UP,
                actor=actor,
                idempotency_key=f"topup-{slot}",
            )
        return ledger.wallet_debit(
            partner=partner,
            amount=Money.parse("0.35"),
            type=Posting.Type.USAGE_LOCAL,
            actor=actor,
            idempotency_key=f"usage-{slot}",
            allow_negative=True,
        )

    _together(work, 20)
    assert ledger.wallet_balance(partner) == Money.parse("96.50")  # 10 × 10.00 − 10 × 0.35
    assert LedgerAccount.objects.aggregate(total=Sum("balance_micros"))["total"] == 0
    wallet = ledger.wallet_account(partner)
    afters = sorted(wallet.entries.values_list("balance_after_micros", flat=True))
    assert len(set(afters)) == 20  # every posting saw the one before it


def test_concurrent_purchases_never_overdraw():
    partner, _ = make_partner()
    actor = Actor.system(partner=partner)
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("10.00"),
        type=Posting.Type.TOP_UP,
        actor=actor,
        idempotency_key="seed",
    )

    def work(slot: int):
        try:
            return ledger.wallet_debit(
                partner=partner,
                amount=Money.parse("1.75"),
                type=Posting.Type.DID_MONTHLY_LOCAL,
                actor=actor,
                idempotency_key=f"did-{slot}",
            )
        except PaymentRequired:
            return None

    results = _together(work, 12)
    assert sum(result is not None for result in results) == 5  # 5 × 1.75 ≤ 10 < 6 × 1.75
    assert ledger.wallet_balance(partner) == Money.parse("1.25")


def test_the_same_key_from_many_threads_posts_once():
    partner, _ = make_partner()
    actor = Actor.system(partner=partner)

    def work(slot: int):
        return ledger.wallet_credit(
            partner=partner,
            amount=Money.parse("50.00"),
            type=Posting.Type.TOP_UP,
            actor=actor,
            idempotency_key="the-one-top-up",
        )

    results = _together(work, 8)
    assert len({posting.id for posting, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert ledger.wallet_balance(partner) == Money.parse("50")
