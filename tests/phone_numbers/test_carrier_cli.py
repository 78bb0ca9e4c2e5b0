"""`trunkline carrier status | advance | load-block`: in-process against the test
database (the command's own parser and handlers), and once as the real command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import trunkline
from tests.factories import actor_for_user, make_tenant
from tests.test_cli import Cli
from trunkline import cli
from trunkline.core.models import AuditEntry
from trunkline.phone_numbers import caller_id, services
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.models import CarrierRequest, PhoneNumber, SupplyNumber

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
STAMP = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) <= 1, out  # at most one JSON object
    return code, json.loads(lines[0]) if lines else None, err


@pytest.fixture
def bought(admin, fund, inventory):
    actor = actor_for_user(admin)
    fund(admin.partner)
    offers = carrier().search(SearchCriteria(kind="local", state="AR", limit=2))
    rows = services.numbers_purchase(actor=actor, numbers=[o.e164 for o in offers], now=NOW)
    return actor, [PhoneNumber.objects.get(pk=row.pk) for row in rows]


def test_status_lists_what_the_carrier_still_owes(capsys, bought):
    actor, numbers = bought
    code, body, _ = run(capsys, "carrier", "status")
    assert code == 0
    assert body["count"] == 1
    [order] = body["pending"]
    assert order["kind"] == "order"
    assert order["numbers"] == sorted(n.e164 for n in numbers)
    assert order["submitted_at"] == NOW.isoformat()
    assert order["finishes_at"] == (NOW + timedelta(seconds=30)).isoformat()
    assert order["forced"] is None
    by_ref = run(capsys, "carrier", "status", "--ref", order["ref"])[1]
    assert by_ref["pending"] == [order]
    by_number = run(capsys, "carrier", "status", "--number", numbers[0].e164[2:])[1]
    assert by_number["pending"] == [order]
    assert run(capsys, "carrier", "status", "--kind", "cnam")[1] == {"pending": [], "count": 0}


def test_advance_applies_at_once_and_is_audited(capsys, bought, admin):
    actor, numbers = bought
    code, body, err = run(capsys, "carrier", "advance", "--all", "--now", STAMP)
    assert code == 0, err
    assert [(row["kind"], row["outcome"], row["status"]) for row in body["advanced"]] == [
        ("order", "done", "DONE")
    ]
    assert {n.status for n in PhoneNumber.objects.filter(partner=admin.partner)} == {"ACTIVE"}
    entry = AuditEntry.objects.get(action="carrier_request.advanced")
    assert (entry.actor_type, entry.actor_label, entry.partner_id) == (
        "system",
        "system",
        admin.partner_id,
    )
    # Nothing left: --all does nothing, a named number is not found.
    assert run(capsys, "carrier", "advance", "--all")[1]["count"] == 0
    code, body, err = run(capsys, "carrier", "advance", "--number", numbers[0].e164)
    assert code == 1 and body is None
    assert "no pending carrier request" in err


def test_advance_fails_with_a_reason_for_one_kind(capsys, bought, admin):
    actor, numbers = bought
    run(capsys, "carrier", "advance", "--all", "--now", STAMP)
    tenant = make_tenant(admin)
    number = numbers[0]
    services.number_assign(actor=actor, number=number, tenant=tenant, now=NOW)
    caller_id.number_cnam_set(actor=actor, number=number, cnam="OZARK SALES", now=NOW)
    caller_id.number_e911_set(
        actor=actor,
        number=number,
        address={
            "street": "1200 Main St",
            "city": "Little Rock",
            "state": "AR",
            "postal_code": "72201",
        },
        now=NOW,
    )
    code, body, err = run(
        capsys, "carrier", "advance", "--number", number.e164, "--kind", "e911",
        "--fail", "Address not dispatchable", "--now", STAMP,
    )  # fmt: skip
    assert code == 0, err
    assert [(row["kind"], row["status"], row["detail"]) for row in body["advanced"]] == [
        ("e911", "FAILED", "Address not dispatchable")
    ]
    number.refresh_from_db()
    assert (number.e911_status, number.cnam_status) == ("FAILED", "PENDING")
    pending = run(capsys, "carrier", "status", "--number", number.e164)[1]["pending"]
    assert [row["kind"] for row in pending] == ["cnam"]


def test_bad_options_exit_non_zero_with_a_message(capsys, db):
    with pytest.raises(SystemExit):  # --number, --ref or --all is required
        cli.main(["carrier", "advance"])
    capsys.readouterr()
    code, body, err = run(capsys, "carrier", "advance", "--all", "--now", "tomorrow")
    assert code == 2 and "ISO-8601" in err
    code, body, err = run(capsys, "carrier", "advance", "--number", "555")
    assert code == 1 and "not a US number" in err
    code, body, err = run(capsys, "carrier", "load-block", "/nonexistent/block.csv")
    assert code == 2 and "cannot read" in err


def test_load_block_loads_or_refuses_the_whole_file(capsys, tmp_path, db):
    good = tmp_path / "ozark.csv"
    good.write_text("number,type\n+15012020100,local\n5012020101,local\n+18445550100,toll_free\n")
    code, body, err = run(capsys, "carrier", "load-block", str(good), "--dry-run")
    assert (code, body["loaded"], body["dry_run"]) == (0, 3, True)
    assert not SupplyNumber.objects.exists()
    code, body, err = run(capsys, "carrier", "load-block", str(good))
    assert code == 0, err
    assert body == {
        "loaded": 3,
        "local": 2,
        "toll_free": 1,
        "source": "block:ozark.csv",
        "dry_run": False,
    }
    row = SupplyNumber.objects.get(e164="+15012020100")
    assert (row.state, row.city, row.rate_center) == ("AR", "Little Rock", "LITTLE ROCK")

    bad = tmp_path / "bad.csv"
    bad.write_text("number,type\n+15012020102,local\n+15012020100,local\n12,local\n")
    code, body, err = run(capsys, "carrier", "load-block", str(bad))
    assert code == 1 and body is None
    assert "row 3: +15012020100 is already in the inventory" in err
    assert "row 4:" in err
    assert not SupplyNumber.objects.filter(e164="+15012020102").exists()


def test_the_real_command_loads_a_block_and_makes_a_platform_key(tmp_path):
    fresh = Cli(tmp_path)
    # The command runs the code under test, wherever the package was installed from.
    fresh.env["PYTHONPATH"] = str(Path(trunkline.__file__).resolve().parents[1])
    fresh.run("migrate", "--quiet")
    block = tmp_path / "block.csv"
    block.write_text("number,type,state,city\n+15012020150,local,AR,Little Rock\n")
    assert fresh.json("carrier", "load-block", str(block))["loaded"] == 1
    assert fresh.json("carrier", "status") == {"pending": [], "count": 0}
    assert fresh.json("carrier", "advance", "--all")["count"] == 0
    partner = fresh.json(
        "create-partner", "--name", "House", "--email", "ops@house.example",
        "--password", "Correct-Horse9battery",
    )["partner_id"]  # fmt: skip
    key = fresh.json("create-api-key", "--partner", partner, "--name", "Ops", "--platform")
    assert key["key"].startswith("sk_live_")
    help_text = fresh.run("carrier", "--help").stdout
    assert all(name in help_text for name in ("status", "advance", "load-block"))


def test_only_pending_requests_are_listed(capsys, bought):
    run(capsys, "carrier", "advance", "--all", "--now", STAMP)
    assert CarrierRequest.objects.filter(status="DONE").count() == 1
    assert run(capsys, "carrier", "status")[1]["count"] == 0
