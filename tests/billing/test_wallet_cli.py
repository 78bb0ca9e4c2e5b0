"""`trunkline wallet-credit` as ../shared/CONTRACT.md fixes it: a manual-adjustment
credit to a partner's wallet, printed as JSON."""

import json

import pytest

from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.cli import main
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db


def run(capsys, *argv) -> tuple[int, dict | str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def test_credits_the_wallet(capsys, partner):
    code, out = run(
        capsys,
        "wallet-credit",
        "--partner",
        partner.id,
        "--amount",
        "100.00",
        "--note",
        "launch credit",
    )
    assert code == 0
    assert out["balance"] == "100.00"
    posting = Posting.objects.get(id=out["posting_id"])
    assert (posting.type, posting.memo) == ("manual_adjustment", "launch credit")
    assert ledger.wallet_balance(partner) == Money.parse("100")


def test_each_run_is_its_own_credit_unless_keyed(capsys, partner):
    run(capsys, "wallet-credit", "--partner", partner.id, "--amount", "1")
    run(capsys, "wallet-credit", "--partner", partner.id, "--amount", "1")
    for _ in range(2):
        run(
            capsys,
            "wallet-credit",
            "--partner",
            partner.id,
            "--amount",
            "5",
            "--idempotency-key",
            "migration-42",
        )
    assert ledger.wallet_balance(partner) == Money.parse("7")


@pytest.mark.parametrize("amount", ["-5", "0", "abc", "1.0000001"])
def test_bad_amounts_change_nothing(capsys, partner, amount):
    code, err = run(capsys, "wallet-credit", "--partner", partner.id, "--amount", amount)
    assert code != 0 and "amount" in err
    assert not Posting.objects.exists()


def test_unknown_partner(capsys, db):
    code, err = run(capsys, "wallet-credit", "--partner", "ptr_nope", "--amount", "5")
    assert code == 1 and "no partner" in err
