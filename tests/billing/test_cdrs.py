"""Call-record intake (`POST /v1/cdrs`, ../shared/CONTRACT.md): idempotent by call_id,
every bad record kept with its reason, rated at the partner's tier (Starter, partner
guide `004_*.txt`: $0.020 local and $0.022 toll-free a minute), counted per tenant and
cycle, and charged to the wallet."""

from datetime import date

import pytest

from tests.factories import make_api_key, make_partner, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import CallRecord, Entry, Posting, RejectedCallRecord, TenantUsage
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Ozark Plumbing")


def record(tenant, call_id="c1", **changes):
    base = {
        "call_id": call_id,
        "tenant_id": tenant.id,
        "direction": "outbound",
        "from": "+15015550100",
        "to": "+15015550123",
        "started_at": "2026-11-10T15:00:00Z",
        "answered_at": "2026-11-10T15:00:05Z",
        "ended_at": "2026-11-10T15:01:06Z",
        "billsec": 61,
    }
    return {**base, **changes}


def test_a_local_call_is_rated_stored_counted_and_charged(api, partner, tenant, carrier):
    response = api.post("/v1/cdrs", {"records": [record(tenant)]})
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    call = CallRecord.objects.get()
    # Starter: $0.020/min in 6-second steps: 61 s → 66 s → $0.022
    assert (call.call_class, call.billable_seconds, call.wholesale_micros) == ("local", 66, 22_000)
    assert call.provider_cost_micros == 4_400 and call.provider_id == carrier.id
    usage = TenantUsage.objects.get(tenant=tenant)
    assert (usage.cycle_start, usage.calls, usage.local_seconds) == (date(2026, 11, 1), 1, 66)
    assert usage.wholesale_micros == 22_000
    assert ledger.wallet_balance(partner) == Money.parse("-0.022")
    assert Posting.objects.get(type="usage_local").reference == call.id


def test_sending_a_record_twice_charges_it_once(api, partner, tenant, carrier):
    api.post("/v1/cdrs", {"records": [record(tenant)]})
    again = api.post("/v1/cdrs", {"records": [record(tenant), record(tenant)]})
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert CallRecord.objects.count() == 1
    assert TenantUsage.objects.get().calls == 1
    assert ledger.wallet_balance(partner) == Money.parse("-0.022")


def test_classes_are_counted_and_charged_apart(api, partner, tenant, carrier):
    records = [
        record(tenant, "local"),
        record(tenant, "tf", direction="inbound", **{"from": "+15015550123", "to": "+18775550100"}),
        record(tenant, "uk", to="+442079460000"),
        record(tenant, "int", direction="internal", **{"from": "101", "to": "102"}),
    ]
    assert api.post("/v1/cdrs", {"records": records}).json()["accepted"] == 4
    usage = TenantUsage.objects.get()
    # toll-free 66 s at $0.022; UK at the platform's $0.05 in 60/60 → 120 s = $0.10
    assert (usage.local_seconds, usage.toll_free_seconds, usage.international_seconds) == (
        66,
        66,
        120,
    )
    assert usage.calls == 4
    types = dict(
        Entry.objects.filter(account__code="wallet").values_list("posting__type", "amount_micros")
    )
    assert types == {
        "usage_local": -22_000,
        "usage_toll_free": -24_200,
        "usage_international": -100_000,
    }
    assert CallRecord.objects.get(call_id="int").wholesale_micros == 0


def test_the_month_is_the_tenants_month(api, tenant, carrier):
    # 03:00 UTC on 1 December is still 30 November in Chicago.
    late = record(
        tenant,
        started_at="2026-12-01T03:00:00Z",
        answered_at="2026-12-01T03:00:01Z",
        ended_at="2026-12-01T03:01:02Z",
    )
    api.post("/v1/cdrs", {"records": [late]})
    assert TenantUsage.objects.get().cycle_start == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"billsec": -1}, "billsec", "whole number"),
        ({"billsec": "61"}, "billsec", "whole number"),
        ({"billsec": 500}, "billsec", "longer than the call"),
        ({"direction": "sideways"}, "direction", "inbound, outbound or internal"),
        ({"started_at": "yesterday"}, "started_at", "ISO-8601"),
        ({"started_at": "2026-11-10T15:00:00"}, "started_at", "UTC offset"),
        ({"ended_at": "2026-11-10T14:00:00Z"}, "ended_at", "before started_at"),
        ({"answered_at": "2026-11-10T16:00:00Z"}, "answered_at", "outside the call"),
        ({"tenant_id": "tnt_nope"}, "tenant_id", "no such tenant"),
        ({"to": "5015550123"}, "to", "E.164"),
        ({"to": "+33142685300"}, "to", "no international rate"),
        ({"to": "+15015550123x"}, "to", "E.164"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"call_id": ""}, "call_id", "required"),
    ],
)
def test_bad_records_are_kept_with_their_reason(api, tenant, carrier, changes, field, reason):
    bad = record(tenant, **{"call_id": "bad", **changes})
    response = api.post("/v1/cdrs", {"records": [record(tenant, "good"), bad]})
    body = response.json()
    assert body["accepted"] == 1
    [rejection] = body["rejected"]
    assert rejection["index"] == 1 and reason in rejection["reason"]
    assert rejection["field"] == (field or None)
    stored = RejectedCallRecord.objects.get()
    assert stored.record == bad and reason in stored.reason
    listed = api.get("/v1/cdrs/rejected").json()["data"]
    assert [row["id"] for row in listed] == [stored.id]
    assert CallRecord.objects.get().call_id == "good"


def test_another_partners_tenant_is_not_a_target(api, make_api, tenant, carrier):
    other, other_admin = make_partner()
    foreign = make_tenant(other_admin)
    body = api.post("/v1/cdrs", {"records": [record(foreign)]}).json()
    assert body["rejected"][0]["reason"] == "no such tenant"
    assert not CallRecord.objects.exists()
    # and the other partner sees neither the call nor the rejection
    other_api = make_api(make_api_key(other))
    assert other_api.get("/v1/cdrs/rejected").json()["data"] == []


@pytest.mark.parametrize(
    "body",
    [{"records": []}, {"records": "x"}, {"records": [{}] * 1001}, {"rows": []}, {}],
)
def test_malformed_batches_are_refused_whole(api, tenant, carrier, body):
    response = api.post("/v1/cdrs", body)
    assert response.status_code == 422
    assert not CallRecord.objects.exists() and not RejectedCallRecord.objects.exists()


def test_calls_list_by_tenant(api, admin, tenant, carrier):
    other_tenant = make_tenant(admin)
    api.post("/v1/cdrs", {"records": [record(tenant, "a"), record(other_tenant, "b")]})
    rows = api.get("/v1/calls", {"tenant_id": tenant.id}).json()["data"]
    assert [(row["call_id"], row["cost"], row["from"], row["to"]) for row in rows] == [
        ("a", "0.022", "+15015550100", "+15015550123")
    ]
    assert api.get("/v1/calls", {"tenant_id": "tnt_foreign"}).status_code == 404
    assert len(api.get("/v1/calls").json()["data"]) == 2


def test_scopes(make_api, partner, tenant, carrier):
    reader = make_api(make_api_key(partner, scopes="calls:read"))
    assert reader.post("/v1/cdrs", {"records": [record(tenant)]}).status_code == 403
    assert reader.get("/v1/calls").status_code == 200
