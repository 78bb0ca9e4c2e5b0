"""20 concurrent top-ups and charges on PostgreSQL end at the exact balance: the row lock
serialises them, none is lost, and the books still sum to zero."""

import pytest
from django.conf import settings
from django.db.models import Sum

from tests.concurrency import together
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

    together(work, 20)
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

    results = together(work, 12)
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

    results = together(work, 8)
    assert len({posting.id for posting, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert ledger.wallet_balance(partner) == Money.parse("50")


def test_the_same_call_records_imported_concurrently_are_charged_once(carrier):
    from tests.factories import make_tenant
    from trunkline.billing.cdrs import cdrs_ingest
    from trunkline.billing.models import CallRecord, TenantUsage

    partner, admin = make_partner()
    tenant = make_tenant(admin)
    batch = [
        {
            "call_id": f"call-{number}",
            "tenant_id": tenant.id,
            "direction": "outbound",
            "from": "+15015550100",
            "to": "+15015550123",
            "started_at": "2026-11-10T15:00:00Z",
            "ended_at": "2026-11-10T15:01:00Z",
            "billsec": 60,
        }
        for number in range(200)
    ]

    def work(slot: int):
        # Half the threads send the same 200 records; the others send 50 records of their own.
        if slot % 2:
            return cdrs_ingest(actor=Actor.system(partner=partner), records=batch)
        own = [{**record, "call_id": f"own-{slot}-{n}"} for n, record in enumerate(batch[:50])]
        return cdrs_ingest(actor=Actor.system(partner=partner), records=own)

    results = together(work, 6)
    assert not any(result.rejected for result in results), results[0].rejected[:1]
    assert sum(result.accepted for result in results) == 200 + 3 * 50
    assert CallRecord.objects.count() == 350
    usage = TenantUsage.objects.get(tenant=tenant)
    # Starter: 60 s at $0.020/min, 6-second steps
    assert (usage.calls, usage.local_seconds, usage.wholesale_micros) == (
        350,
        350 * 60,
        350 * 20_000,
    )
    assert ledger.wallet_balance(partner) == Money(-350 * 20_000)
    assert LedgerAccount.objects.aggregate(total=Sum("balance_micros"))["total"] == 0
