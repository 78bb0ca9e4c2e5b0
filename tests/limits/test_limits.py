"""Usage limits (partner guide 004_*.txt, "Usage Limits & Spending Controls": the caps,
the 80 % alert, Auto-Suspend, the recommended starting limits, Reset to Defaults)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.billing.cdrs import cdrs_ingest
from trunkline.core.actors import Actor
from trunkline.core.models import Event, OutgoingEmail
from trunkline.limits.models import LimitAlert
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

RECOMMENDED = {
    "monthly_spend_limit": "500.00",
    "max_extensions": 50,
    "max_dids": 10,
    "max_monthly_minutes": 5000,
    "alert_threshold_percent": 80,
    "auto_suspend": True,
}


@pytest.fixture(autouse=True)
def rates(carrier):
    return carrier


def calls(partner, tenant, count, *, seconds=60, start=0, at=None):
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    records = [
        {
            "call_id": f"{tenant.id}-{start + n}",
            "tenant_id": tenant.id,
            "direction": "outbound",
            "from": "+15015550100",
            "to": "+15015550123",
            "started_at": at.isoformat(),
            "ended_at": (at + timedelta(seconds=seconds)).isoformat(),
            "billsec": seconds,
        }
        for n in range(count)
    ]
    result = cdrs_ingest(actor=Actor.system(partner=partner), records=records)
    assert not result.rejected, result.rejected
    return result


def emails(subject_part):
    return [e for e in OutgoingEmail.objects.all() if subject_part in e.subject]


def test_new_tenants_start_with_the_recommended_limits(api, admin):
    tenant = make_tenant(admin)
    assert api.get(f"/v1/tenants/{tenant.id}/limits").json() == RECOMMENDED
    assert api.get("/v1/tenant-defaults/limits").json() == RECOMMENDED


def test_set_limits_null_is_unlimited_and_reset_restores_the_defaults(api, admin):
    tenant = make_tenant(admin)
    path = f"/v1/tenants/{tenant.id}/limits"
    changed = api.put(
        path, {"monthly_spend_limit": "250.50", "max_dids": None, "auto_suspend": False}
    )
    assert changed.status_code == 200
    assert changed.json() == {
        **RECOMMENDED,
        "monthly_spend_limit": "250.50",
        "max_dids": None,
        "auto_suspend": False,
    }
    defaults = api.put("/v1/tenant-defaults/limits", {"max_monthly_minutes": 2000})
    assert defaults.json()["max_monthly_minutes"] == 2000
    reset = api.post(f"{path}/reset")
    assert reset.json() == {**RECOMMENDED, "max_monthly_minutes": 2000}
    # Only new tenants take new defaults.
    admin.partner.refresh_from_db()
    assert make_tenant(admin).max_monthly_minutes == 2000


@pytest.mark.parametrize(
    "body, field",
    [
        ({"monthly_spend_limit": "-5"}, "monthly_spend_limit"),
        ({"monthly_spend_limit": "0.001"}, "monthly_spend_limit"),
        ({"monthly_spend_limit": "lots"}, "monthly_spend_limit"),
        ({"max_dids": -1}, None),
        ({"max_dids": "ten"}, None),
        ({"max_monthly_minutes": 10**9}, "max_monthly_minutes"),
        ({"alert_threshold_percent": 0}, "alert_threshold_percent"),
        ({"alert_threshold_percent": 101}, "alert_threshold_percent"),
        ({"auto_suspend": "perhaps"}, None),
        ({"max_cats": 3}, None),
    ],
)
def test_bad_limits_are_refused_and_nothing_changes(api, admin, body, field):
    tenant = make_tenant(admin)
    response = api.put(f"/v1/tenants/{tenant.id}/limits", body)
    assert response.status_code in (400, 422), response.json()
    if field:
        assert response.json()["error"]["field"] == field
    assert api.get(f"/v1/tenants/{tenant.id}/limits").json() == RECOMMENDED


def test_limits_and_usage_are_the_partners_own(client, api, admin):
    tenant = make_tenant(admin)
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    assert outsider.get(f"/v1/tenants/{tenant.id}/limits").status_code == 404
    assert outsider.put(f"/v1/tenants/{tenant.id}/limits", {"max_dids": 99}).status_code == 404
    assert outsider.post(f"/v1/tenants/{tenant.id}/limits/reset").status_code == 404
    assert outsider.get(f"/v1/tenants/{tenant.id}/usage").status_code == 404
    tenant.refresh_from_db()
    assert tenant.max_dids == 10


def test_usage_shows_the_current_cycle(api, admin):
    tenant = make_tenant(admin)
    calls(admin.partner, tenant, 3, seconds=90)
    usage = api.get(f"/v1/tenants/{tenant.id}/usage").json()
    assert usage["minutes"] == {"local": 4.5, "toll_free": 0.0, "international": 0.0, "total": 4.5}
    assert usage["calls"] == 3 and usage["dids"] == 0 and usage["extensions"] == 0
    assert usage["cycle_start"].endswith("-01")
    assert float(usage["spend"]) > 0


def test_the_minute_cap_alerts_once_at_80_percent_then_suspends(api, admin):
    tenant = make_tenant(admin, billing_email="owner@tenant.example")
    api.put(f"/v1/tenants/{tenant.id}/limits", {"max_monthly_minutes": 10})
    calls(admin.partner, tenant, 7)  # 70 %
    assert not emails("has used 80%")
    calls(admin.partner, tenant, 1, start=7)  # 80 %
    calls(admin.partner, tenant, 1, start=8)  # 90 %: no second alert
    (alert,) = emails("has used 80% of its monthly minute cap")
    assert alert.recipients == [admin.email]
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.TRIAL

    calls(admin.partner, tenant, 1, start=9)  # 100 %: the cap
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause, tenant.suspension_reason) == (
        Tenant.Status.SUSPENDED,
        "usage_cap",
        "usage_cap",
    )
    event = Event.objects.get(type="tenant.suspended")
    assert event.payload["reason"] == "usage_cap"
    (suspended,) = emails("Tenant suspended")
    assert suspended.recipients == [admin.email]
    assert not [e for e in OutgoingEmail.objects.all() if "owner@tenant.example" in e.recipients]


def test_without_auto_suspend_the_cap_only_alerts(api, admin):
    tenant = make_tenant(admin)
    api.put(f"/v1/tenants/{tenant.id}/limits", {"max_monthly_minutes": 5, "auto_suspend": False})
    calls(admin.partner, tenant, 6)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.TRIAL
    assert len(emails("reached its monthly minute cap")) == 1
    calls(admin.partner, tenant, 3, start=6)
    assert len(emails("reached its monthly minute cap")) == 1
    assert set(LimitAlert.objects.values_list("level", flat=True)) == {"threshold", "cap"}


def test_the_spend_cap(api, admin):
    from decimal import Decimal

    tenant = make_tenant(admin)
    calls(admin.partner, tenant, 1)
    per_minute = Decimal(api.get(f"/v1/tenants/{tenant.id}/usage").json()["spend"])
    assert per_minute > 0
    # A cap of ten minutes' spend: the 8th minute crosses 80 %, the 10th the cap.
    cap = per_minute * 10
    assert cap == cap.quantize(Decimal("0.01")), "pick a call length costing whole cents"
    api.put(f"/v1/tenants/{tenant.id}/limits", {"monthly_spend_limit": str(cap)})
    calls(admin.partner, tenant, 6, start=1)
    assert not emails("monthly spend cap")
    calls(admin.partner, tenant, 1, start=7)
    assert len(emails("has used 80% of its monthly spend cap")) == 1
    calls(admin.partner, tenant, 1, start=8)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.TRIAL
    calls(admin.partner, tenant, 1, start=9)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED and tenant.suspension_cause == "usage_cap"


def test_a_lowered_cap_is_not_retroactive_but_trips_on_the_next_call(api, admin):
    tenant = make_tenant(admin)
    calls(admin.partner, tenant, 30)
    api.put(f"/v1/tenants/{tenant.id}/limits", {"max_monthly_minutes": 20})
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.TRIAL
    calls(admin.partner, tenant, 1, start=30)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED


def test_a_manual_unsuspend_after_a_cap_is_the_partners_call(api, admin):
    from trunkline.tenants.services import tenant_unsuspend

    tenant = make_tenant(admin)
    api.put(f"/v1/tenants/{tenant.id}/limits", {"max_monthly_minutes": 1})
    calls(admin.partner, tenant, 1)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED
    tenant = tenant_unsuspend(actor=actor_for_user(admin), tenant=tenant)
    assert tenant.status == Tenant.Status.TRIAL and tenant.suspension_cause == ""


def test_max_dids_at_n_and_n_plus_one(api, admin, client):
    from trunkline.billing import ledger
    from trunkline.billing.models import Posting
    from trunkline.core.money import Money
    from trunkline.phone_numbers.carrier import SearchCriteria, carrier
    from trunkline.phone_numbers.supply import supply_seed

    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    ledger.wallet_credit(
        partner=admin.partner,
        amount=Money.parse("100"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=admin.partner),
        idempotency_key="fund-limits",
        memo="test",
    )
    tenant = make_tenant(admin)
    api.put(f"/v1/tenants/{tenant.id}/limits", {"max_dids": 2})
    offers = carrier().search(SearchCriteria(kind="local", state="AR", limit=3))
    bought = api.post(
        "/v1/phone-numbers/purchase", {"numbers": [offer.e164 for offer in offers]}
    ).json()["data"]
    for number in bought[:2]:
        ok = api.post(f"/v1/phone-numbers/{number['id']}/assign", {"tenant_id": tenant.id})
        assert ok.status_code == 200
    third = api.post(f"/v1/phone-numbers/{bought[2]['id']}/assign", {"tenant_id": tenant.id})
    assert third.status_code == 409
    assert third.json()["error"]["type"] == "limit_exceeded"
    assert api.get(f"/v1/tenants/{tenant.id}/usage").json()["dids"] == 2
