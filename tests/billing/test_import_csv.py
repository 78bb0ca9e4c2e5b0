"""`trunkline import-cdrs FILE`: Asterisk's Master.csv (cdr_csv column order) rated like
API records; accountcode is the tenant's SIP prefix and the context ends in the
direction."""

import json

import pytest

from tests.factories import make_tenant
from trunkline.billing.models import CallRecord, RejectedCallRecord
from trunkline.cli import main

pytestmark = pytest.mark.django_db


def row(account, src, dst, context, start, answer, end, billsec, uniqueid):
    duration = billsec + 5
    return (
        f'"{account}","{src}","{dst}","{context}","""Front Desk"" <{src}>",'
        f'"PJSIP/{account}-101-0000001","PJSIP/carrier-a-0000002","Dial",'
        f'"PJSIP/{dst}@carrier-a,60","{start}","{answer}","{end}",{duration},{billsec},'
        f'"ANSWERED","DOCUMENTATION","{uniqueid}",""\n'
    )


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Ozark Plumbing", sip_prefix="ozark")


def test_imports_master_csv(tmp_path, capsys, partner, tenant, carrier):
    path = tmp_path / "Master.csv"
    path.write_text(
        row(
            "ozark",
            "5015550100",
            "5015550123",
            "ozark-outbound",
            "2026-11-10 15:00:00",
            "2026-11-10 15:00:05",
            "2026-11-10 15:01:06",
            61,
            "1731250800.1",
        )
        + row(
            "ozark",
            "101",
            "102",
            "ozark-internal",
            "2026-11-10 15:02:00",
            "2026-11-10 15:02:01",
            "2026-11-10 15:03:00",
            59,
            "1731250920.2",
        )
        + row(
            "ozark",
            "5015550123",
            "8775550100",
            "ozark-inbound",
            "2026-11-10 16:00:00",
            "2026-11-10 16:00:02",
            "2026-11-10 16:00:32",
            30,
            "1731254400.3",
        )
        + row(
            "nobody",
            "5015550100",
            "5015550123",
            "nobody-outbound",
            "2026-11-10 15:00:00",
            "2026-11-10 15:00:05",
            "2026-11-10 15:01:06",
            61,
            "1731250800.4",
        )
        + '"ozark","too","few"\n'
        + row(
            "ozark",
            "5015550100",
            "5015550123",
            "ozark-outbound",
            "not a time",
            "",
            "2026-11-10 15:01:06",
            61,
            "1731250800.5",
        )
    )
    assert main(["import-cdrs", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["accepted"], out["duplicates"], out["rejected"]) == (3, 0, 3)
    reasons = {rejection["index"]: rejection["reason"] for rejection in out["rejections"]}
    assert "accountcode" in reasons[4]
    assert "columns" in reasons[5]
    assert "ISO-8601" in reasons[6]
    calls = {call.call_id: call for call in CallRecord.objects.all()}
    assert calls["1731250800.1"].to_number == "+15015550123"
    assert calls["1731250800.1"].source == "csv"
    assert calls["1731250920.2"].call_class == "internal"
    assert calls["1731254400.3"].call_class == "toll_free"
    assert RejectedCallRecord.objects.filter(partner=None).count() == 2  # no tenant known
    # Importing the same file again stores and charges nothing twice.
    assert main(["import-cdrs", str(path)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["accepted"], again["duplicates"]) == (0, 3)


def test_the_call_engine_clock(tmp_path, capsys, tenant, carrier):
    path = tmp_path / "Master.csv"
    path.write_text(
        row(
            "ozark",
            "5015550100",
            "5015550123",
            "ozark-outbound",
            "2026-11-10 09:00:00",
            "2026-11-10 09:00:05",
            "2026-11-10 09:01:06",
            61,
            "a.1",
        )
    )
    assert main(["import-cdrs", str(path), "--timezone", "America/Chicago"]) == 0
    assert CallRecord.objects.get().started_at.isoformat() == "2026-11-10T15:00:00+00:00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import-cdrs", "/nonexistent/Master.csv"], "cannot read"),
        (["import-cdrs", "-", "--timezone", "Mars/Olympus"], "IANA"),
    ],
)
def test_bad_arguments(capsys, db, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_fast_reading_of_a_row_agrees_with_the_checks():
    """Rows are read straight into facts when every check passes; any row the checks
    refuse must fall back to them (to be refused with its reason), and a row read the
    fast way must give exactly what the checks give."""
    import csv
    import random
    from zoneinfo import ZoneInfo

    from trunkline.billing.cdrs import Rejected, _check, _csv_facts, _csv_record
    from trunkline.tenants.models import Tenant

    tenant = Tenant(id="tnt_a", partner_id="ptr_a", sip_prefix="ozark", timezone="UTC")
    choices = {
        0: ["ozark", "nobody", "", "ozark "],
        1: ["5015550100", "+15015550100", " 5015550100 ", "101", "", "x" * 40, "50155\x000100"],
        2: ["5015550123", "8775550100", "011442079460000", "15015550123", "  ", "+1"],
        3: ["ozark-outbound", "ozark-inbound", "ozark-internal", "outbound", "ozark-sideways"],
        9: [
            "2026-11-10 15:00:00",
            "2026-11-10T15:00:00",
            "2026-11-10 15:00:00+05:00",
            "",
            "not a time",
            "2026-11-01 01:30:00",
            "2026-11-10 15:00:00.250000",
            "0001-01-01",
        ],
        10: ["", "2026-11-10 15:00:05", "2026-11-10 15:02:00", "2026-11-10 14:00:00", "x"],
        11: [
            "2026-11-10 15:01:06",
            "2026-11-10 15:00:00",
            "2026-11-18 15:00:00",
            "2026-11-10 14:00:00",
            "2026-11-01 02:30:00",
            "",
        ],
        13: ["61", "0", "66", "62", " 61", "-1", "\u00b2", "\u0666\u0661", "", "600000"],
        16: ["1731250800.1", " a.1 ", "", " ", "x" * 129, "a\x00b"],
    }
    rng = random.Random(5)
    fast = 0
    for zone in (ZoneInfo("UTC"), ZoneInfo("America/Chicago")):
        for _ in range(4_000):
            line = next(
                csv.reader(
                    [
                        row(
                            "ozark",
                            "5015550100",
                            "5015550123",
                            "ozark-outbound",
                            "2026-11-10 15:00:00",
                            "2026-11-10 15:00:05",
                            "2026-11-10 15:01:06",
                            61,
                            "1731250800.1",
                        )
                    ]
                )
            )
            for column, values in choices.items():
                if rng.random() < 0.3:
                    line[column] = rng.choice(values)
            if rng.random() < 0.02:
                line = line[: rng.randint(1, 17)]
            facts = _csv_facts(line, {"ozark": tenant}, zone, str(zone) == "UTC")
            try:
                checked = _check(_csv_record(line, {"ozark": "tnt_a"}, zone), {"tnt_a": tenant})
            except Rejected:
                assert facts is None, line
                continue
            assert facts is None or facts == checked, line
            fast += facts is not None
    assert fast > 1_000  # good rows do take the fast way


def test_records_keep_their_tenants_partner_and_protect_what_they_name(tmp_path, capsys, carrier):
    """Only the tenant is a database constraint on call records; the partner column must
    still be the tenant's partner, and neither the partner nor the carrier a record names
    can be deleted while it exists."""
    from django.db.models import ProtectedError

    from tests.factories import make_partner

    tenants = []
    for number in range(2):
        partner, admin = make_partner(f"Reseller {number}")
        tenants.append(make_tenant(admin, name=f"Tenant {number}", sip_prefix=f"rs{number}"))
    path = tmp_path / "Master.csv"
    path.write_text(
        "".join(
            row(
                tenant.sip_prefix,
                "5015550100",
                "5015550123",
                f"{tenant.sip_prefix}-outbound",
                "2026-11-10 15:00:00",
                "2026-11-10 15:00:05",
                "2026-11-10 15:01:06",
                61,
                f"1731250800.{index}",
            )
            for index, tenant in enumerate(tenants * 3)
        )
    )
    assert main(["import-cdrs", str(path)]) == 0
    capsys.readouterr()
    records = CallRecord.objects.select_related("tenant")
    assert records.count() == 6
    assert all(record.partner_id == record.tenant.partner_id for record in records)
    with pytest.raises(ProtectedError):
        carrier.delete()
    with pytest.raises(ProtectedError):
        tenants[0].partner.delete()
