"""Ledger invariants under any sequence of operations (Hypothesis stateful testing):
the books always sum to zero, a wallet's balance is exactly the sum of its entries, and
replaying any idempotency key changes nothing."""

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.factories import make_partner
from trunkline.billing import ledger
from trunkline.billing.models import Entry, LedgerAccount, Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, PaymentRequired
from trunkline.core.money import Money

T = Posting.Type
amounts = st.integers(min_value=1, max_value=5_000_000_000)  # micros, up to $5,000


@pytest.mark.django_db
def test_ledger_invariants(django_db_blocker):
    partners = [make_partner()[0], make_partner()[0]]

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            Entry.objects.all().delete()
            Posting.objects.all().delete()
            LedgerAccount.objects.all().delete()
            self.expected = {partner.id: 0 for partner in partners}
            self.keys: list[tuple] = []  # (key, partner index, type, amount, direction)
            self.counter = 0

        def _key(self) -> str:
            self.counter += 1
            return f"k{self.counter}"

        @rule(
            who=st.integers(0, 1), micros=amounts, type=st.sampled_from(sorted(ledger.CREDIT_TYPES))
        )
        def credit(self, who, micros, type):
            partner, key = partners[who], self._key()
            ledger.wallet_credit(
                partner=partner,
                amount=Money(micros),
                type=type,
                actor=Actor.system(partner=partner),
                idempotency_key=key,
            )
            self.expected[partner.id] += micros
            self.keys.append((key, who, type, micros, "credit"))

        @rule(
            who=st.integers(0, 1),
            micros=amounts,
            type=st.sampled_from(sorted(ledger.DEBIT_TYPES)),
            allow_negative=st.booleans(),
        )
        def debit(self, who, micros, type, allow_negative):
            partner, key = partners[who], self._key()
            try:
                ledger.wallet_debit(
                    partner=partner,
                    amount=Money(micros),
                    type=type,
                    actor=Actor.system(partner=partner),
                    idempotency_key=key,
                    allow_negative=allow_negative,
                )
            except PaymentRequired:
                assert not allow_negative and self.expected[partner.id] < micros
                return
            assert allow_negative or self.expected[partner.id] >= micros
            self.expected[partner.id] -= micros
            self.keys.append((key, who, type, micros, "debit"))

        @precondition(lambda self: self.keys)
        @rule(data=st.data())
        def replay(self, data):
            key, who, type, micros, direction = data.draw(st.sampled_from(self.keys))
            operation = ledger.wallet_credit if direction == "credit" else ledger.wallet_debit
            extra = {"allow_negative": True} if direction == "debit" else {}
            _, created = operation(
                partner=partners[who],
                amount=Money(micros),
                type=type,
                actor=Actor.system(partner=partners[who]),
                idempotency_key=key,
                **extra,
            )
            assert not created

        @precondition(lambda self: self.keys)
        @rule(data=st.data(), other=amounts)
        def replay_with_other_money(self, data, other):
            key, who, type, micros, direction = data.draw(st.sampled_from(self.keys))
            if other == micros:
                return
            operation = ledger.wallet_credit if direction == "credit" else ledger.wallet_debit
            with pytest.raises(Conflict):
                operation(
                    partner=partners[who],
                    amount=Money(other),
                    type=type,
                    actor=Actor.system(partner=partners[who]),
                    idempotency_key=key,
                )

        @invariant()
        def books_sum_to_zero(self):
            total = LedgerAccount.objects.aggregate(total=Sum("balance_micros"))["total"] or 0
            assert total == 0
            assert (Entry.objects.aggregate(total=Sum("amount_micros"))["total"] or 0) == 0

        @invariant()
        def wallets_match_their_entries_and_the_model(self):
            for partner in partners:
                balance = ledger.wallet_balance(partner).micros
                entries = (
                    Entry.objects.filter(
                        account__partner=partner, account__code=LedgerAccount.Code.WALLET
                    ).aggregate(total=Sum("amount_micros"))["total"]
                    or 0
                )
                assert balance == entries == self.expected[partner.id]

    Ledger.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Ledger.TestCase().runTest()
