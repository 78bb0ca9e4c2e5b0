"""Billing profiles and tax jurisdictions (the partner guide, 004_*.txt, "Billing profiles",
"Switching a tenant to a different profile" and "Tax jurisdictions")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import ApiClient
from tests.factories import make_api_key, make_partner, make_tenant, make_user
from trunkline.billing import profiles
from trunkline.billing.models import BillingProfile, TaxJurisdiction
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.audit import AuditEntry
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

FREE_TRIAL = {
    "name": "Free Trial",
    "pricing_model": "FLAT_RATE",
    "base_fee": "0",
    "included_extensions": 2,
    "included_dids": 1,
    "included_minutes": 200,
    "expires_after_days": 30,
}


def _profile(api, **fields):
    response = api.post("/v1/billing-profiles", fields)
    assert response.status_code == 201, response.json()
    return response.json()


def test_every_partner_starts_with_pay_as_you_go_and_flat_rate_starter(api):
    listed = api.get("/v1/billing-profiles").json()["data"]
    by_name = {profile["name"]: profile for profile in listed}
    assert set(by_name) == {"Pay-As-You-Go", "Flat Rate Starter"}
    payg, flat = by_name["Pay-As-You-Go"], by_name["Flat Rate Starter"]
    assert payg["pricing_model"] == "PAYG" and payg["is_default"] is True
    assert (payg["extension_monthly"], payg["per_minute"]) == ("15.00", "0.025")
    assert flat["pricing_model"] == "FLAT_RATE" and flat["is_default"] is False
    assert (flat["base_fee"], flat["included_extensions"], flat["included_dids"]) == (
        "99.00",
        5,
        2,
    )
    assert flat["included_minutes"] == 500


def test_a_new_tenant_is_put_on_the_default_profile_or_the_one_named(api, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    plain = api.post("/v1/tenants", {"name": "Plain Co", "billing_email": "a@plain.example"})
    named = api.post(
        "/v1/tenants",
        {"name": "Named Co", "billing_email": "a@named.example", "billing_profile_id": flat.id},
    )
    assert plain.status_code == named.status_code == 201
    plain_billing = api.get(f"/v1/tenants/{plain.json()['id']}/billing").json()
    named_billing = api.get(f"/v1/tenants/{named.json()['id']}/billing").json()
    payg = BillingProfile.objects.get(partner=partner, is_default=True)
    assert plain_billing["billing_profile_id"] == payg.id
    assert named_billing["billing_profile_id"] == flat.id
    assert named_billing["pending_billing_profile_id"] is None


def test_a_new_tenant_cannot_name_another_partners_profile(api):
    other, _ = make_partner()
    foreign = BillingProfile.objects.filter(partner=other).first()
    before = Tenant.objects.count()
    response = api.post(
        "/v1/tenants",
        {"name": "Sneaky", "billing_email": "a@sneaky.example", "billing_profile_id": foreign.id},
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "billing_profile_id"
    assert Tenant.objects.count() == before


def test_create_read_edit_and_delete_a_profile(api, partner):
    made = _profile(
        api,
        name="Small Office",
        pricing_model="FLAT_RATE",
        base_fee="99",
        extension_monthly="12.50",
        did_monthly="2",
        toll_free_did_monthly="4.5",
        per_minute="0.02",
        per_minute_toll_free="0.035",
        included_extensions=5,
        included_dids=1,
        included_minutes=500,
    )
    assert made["base_fee"] == "99.00" and made["per_minute_local"] is None
    assert made["per_minute_toll_free"] == "0.035"
    assert api.get(f"/v1/billing-profiles/{made['id']}").json() == made

    edited = api.patch(f"/v1/billing-profiles/{made['id']}", {"per_minute": "0.018"})
    assert edited.status_code == 200 and edited.json()["per_minute"] == "0.018"
    profile = BillingProfile.objects.get(id=made["id"])
    assert profile.minute_rate("local").micros == 18_000
    assert profile.minute_rate("toll_free").micros == 35_000

    assert api.delete(f"/v1/billing-profiles/{made['id']}").status_code == 204
    assert not BillingProfile.objects.filter(id=made["id"]).exists()
    actions = list(AuditEntry.objects.filter(object_id=made["id"]).values_list("action", flat=True))
    assert sorted(actions) == [
        "billing_profile.created",
        "billing_profile.deleted",
        "billing_profile.updated",
    ]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "", "pricing_model": "PAYG"}, "name"),
        ({"name": "X", "pricing_model": "MONTHLY"}, "pricing_model"),
        ({"name": "X", "pricing_model": "PAYG", "per_minute": "-0.01"}, "per_minute"),
        ({"name": "X", "pricing_model": "PAYG", "per_minute": "0.0000001"}, "per_minute"),
        ({"name": "X", "pricing_model": "PAYG", "base_fee": "ten"}, "base_fee"),
        ({"name": "X", "pricing_model": "PAYG", "base_fee": "1e9"}, "base_fee"),
        ({"name": "X", "pricing_model": "PAYG", "included_minutes": 100}, "included_minutes"),
        ({"name": "X", "pricing_model": "FLAT_RATE", "included_dids": -1}, "included_dids"),
        ({"name": "X", "pricing_model": "FLAT_RATE", "expires_after_days": 30}, "converts_to_id"),
        ({"name": "X", "pricing_model": "PAYG", "expires_after_days": 0}, "expires_after_days"),
        ({"name": "X", "pricing_model": "PAYG", "converts_to_id": "bpf_nope"}, "converts_to_id"),
        ({"name": "X", "pricing_model": "PAYG", "surprise": 1}, None),
        ({"name": "X", "pricing_model": "PAYG", "included_dids": "two"}, None),
    ],
)
def test_bad_profiles_are_refused_and_nothing_is_made(api, partner, fields, field):
    before = BillingProfile.objects.count()
    response = api.post("/v1/billing-profiles", fields)
    assert response.status_code in (400, 404, 422), response.json()
    error = response.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field
    assert BillingProfile.objects.count() == before


def test_names_are_unique_per_partner(api, partner):
    response = api.post("/v1/billing-profiles", {"name": "Pay-As-You-Go", "pricing_model": "PAYG"})
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "name_taken"
    # Another partner has its own profile of the same name.
    other, _ = make_partner()
    assert BillingProfile.objects.filter(partner=other, name="Pay-As-You-Go").exists()


def test_one_default_at_a_time_and_it_cannot_be_deleted(api, partner):
    old = BillingProfile.objects.get(partner=partner, is_default=True)
    refused = api.delete(f"/v1/billing-profiles/{old.id}")
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "in_use"
    unset = api.patch(f"/v1/billing-profiles/{old.id}", {"is_default": False})
    assert unset.status_code == 422
    new = _profile(api, name="Standard", pricing_model="PAYG", is_default=True)
    assert new["is_default"] is True
    assert BillingProfile.objects.filter(partner=partner, is_default=True).get().id == new["id"]
    assert api.get(f"/v1/billing-profiles/{old.id}").json()["is_default"] is False


def test_a_profile_in_use_cannot_be_deleted(api, partner, admin):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    make_tenant(admin, billing_profile_id=flat.id)
    response = api.delete(f"/v1/billing-profiles/{flat.id}")
    assert response.status_code == 409
    assert "1 tenant" in response.json()["error"]["message"]
    assert BillingProfile.objects.filter(id=flat.id).exists()


def test_a_profile_another_converts_to_cannot_be_deleted(api, partner):
    target = _profile(api, name="Paid Starter", pricing_model="PAYG")
    _profile(api, **FREE_TRIAL, converts_to_id=target["id"])
    response = api.delete(f"/v1/billing-profiles/{target['id']}")
    assert response.status_code == 409
    assert "converts to" in response.json()["error"]["message"]


def test_a_profile_cannot_convert_to_itself(api):
    made = _profile(api, name="Loop", pricing_model="PAYG")
    response = api.patch(f"/v1/billing-profiles/{made['id']}", {"converts_to_id": made["id"]})
    assert response.status_code == 422 and response.json()["error"]["field"] == "converts_to_id"


def test_profiles_are_the_partners_own(api, partner):
    other, _ = make_partner()
    foreign = BillingProfile.objects.filter(partner=other).first()
    assert api.get(f"/v1/billing-profiles/{foreign.id}").status_code == 404
    assert api.patch(f"/v1/billing-profiles/{foreign.id}", {"name": "Mine"}).status_code == 404
    assert api.delete(f"/v1/billing-profiles/{foreign.id}").status_code == 404
    ids = {profile["id"] for profile in api.get("/v1/billing-profiles").json()["data"]}
    assert foreign.id not in ids
    assert BillingProfile.objects.get(id=foreign.id).name == foreign.name


def test_read_only_keys_and_tenant_limited_keys_cannot_change_profiles(make_api, partner, admin):
    tenant = make_tenant(admin)
    read_only = make_api(make_api_key(partner, scopes="billing:read"))
    limited = make_api(make_api_key(partner, tenant_ids=[tenant.id]))
    spec = {"name": "Nope", "pricing_model": "PAYG"}
    assert read_only.get("/v1/billing-profiles").status_code == 200
    assert read_only.post("/v1/billing-profiles", spec).status_code == 403
    assert limited.post("/v1/billing-profiles", spec).status_code == 403
    assert not BillingProfile.objects.filter(name="Nope").exists()


def test_a_partner_user_is_read_only(partner):
    from tests.factories import actor_for_user
    from trunkline.core.errors import PermissionDenied

    viewer = make_user(partner)
    with pytest.raises(PermissionDenied):
        profiles.billing_profile_create(
            actor=actor_for_user(viewer), name="Viewer's", pricing_model="PAYG"
        )


# --- cycles and switching ------------------------------------------------------------------


def _tenant_on(admin, profile_name, created_at, zone="America/Chicago"):
    profile = BillingProfile.objects.get(partner=admin.partner, name=profile_name)
    tenant = make_tenant(admin, timezone_name=zone, billing_profile_id=profile.id)
    Tenant.objects.filter(pk=tenant.pk).update(
        created_at=created_at,
        billing_profile_since=created_at,
        billed_through=None,
        next_cycle_at=None,
    )
    return Tenant.objects.select_related("billing_profile").get(pk=tenant.pk)


def test_pay_as_you_go_cycles_are_calendar_months_in_the_tenants_zone(admin):
    tenant = _tenant_on(admin, "Pay-As-You-Go", datetime(2026, 3, 10, 15, tzinfo=UTC))
    # 03:00 UTC on 1 May is still 30 April in Chicago.
    cycle = profiles.billing_cycle(tenant, datetime(2026, 5, 1, 3, tzinfo=UTC))
    assert (cycle.start, cycle.end) == (date(2026, 4, 1), date(2026, 5, 1))
    # The first cycle starts the day the tenant went on the profile.
    first = profiles.billing_cycle(tenant, datetime(2026, 3, 20, tzinfo=UTC))
    assert (first.start, first.end) == (date(2026, 3, 10), date(2026, 4, 1))


def test_flat_rate_cycles_run_from_the_anniversary_day(admin):
    tenant = _tenant_on(admin, "Flat Rate Starter", datetime(2026, 1, 31, 18, tzinfo=UTC))
    feb = profiles.billing_cycle(tenant, datetime(2026, 3, 1, 12, tzinfo=UTC))
    assert (feb.start, feb.end) == (date(2026, 2, 28), date(2026, 3, 31))
    apr = profiles.billing_cycle(tenant, datetime(2026, 4, 30, 12, tzinfo=UTC))
    assert (apr.start, apr.end) == (date(2026, 4, 30), date(2026, 5, 31))
    jan = profiles.billing_cycle(tenant, datetime(2026, 2, 15, tzinfo=UTC))
    assert (jan.start, jan.end) == (date(2026, 1, 31), date(2026, 2, 28))


def test_a_profile_change_waits_for_the_next_cycle(api, admin, partner):
    tenant = _tenant_on(admin, "Pay-As-You-Go", datetime(2026, 1, 5, tzinfo=UTC))
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    payg = tenant.billing_profile
    mid_month = datetime(2026, 2, 14, 12, tzinfo=UTC)
    profiles.tenant_billing_profile_change(
        actor=_actor(admin), tenant=tenant, profile_id=flat.id, now=mid_month
    )
    tenant.refresh_from_db()
    assert tenant.billing_profile_id == payg.id
    assert (tenant.pending_billing_profile_id, tenant.pending_billing_profile_from) == (
        flat.id,
        date(2026, 3, 1),
    )
    assert profiles.billing_profile_on(tenant, date(2026, 2, 28)) == payg
    assert profiles.billing_profile_on(tenant, date(2026, 3, 1)) == flat

    # Nothing moves before the cycle ends in the tenant's zone (still 28 Feb in Chicago).
    tenant_cycles_run(now=datetime(2026, 3, 1, 5, tzinfo=UTC))
    tenant.refresh_from_db()
    assert tenant.billing_profile_id == payg.id and tenant.pending_billing_profile_id == flat.id
    for hour in (6, 7):
        tenant_cycles_run(now=datetime(2026, 3, 1, hour, 35, tzinfo=UTC))
    tenant = Tenant.objects.select_related("billing_profile").get(pk=tenant.pk)
    assert tenant.billed_through == date(2026, 3, 1)
    assert tenant.billing_profile_id == flat.id and tenant.pending_billing_profile_id is None
    # The flat-rate anniversary is the day it started: the 1st.
    cycle = profiles.billing_cycle(tenant, datetime(2026, 4, 15, tzinfo=UTC))
    assert (cycle.start, cycle.end) == (date(2026, 4, 1), date(2026, 5, 1))
    assert (
        AuditEntry.objects.filter(
            object_id=tenant.id, action="tenant.billing_profile_changed"
        ).count()
        == 2
    )


def test_choosing_the_current_profile_withdraws_a_pending_change(admin, partner):
    tenant = _tenant_on(admin, "Pay-As-You-Go", datetime(2026, 1, 5, tzinfo=UTC))
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    now = datetime(2026, 2, 14, tzinfo=UTC)
    actor = _actor(admin)
    profiles.tenant_billing_profile_change(actor=actor, tenant=tenant, profile_id=flat.id, now=now)
    profiles.tenant_billing_profile_change(
        actor=actor, tenant=tenant, profile_id=tenant.billing_profile_id, now=now
    )
    tenant.refresh_from_db()
    assert tenant.pending_billing_profile_id is None
    tenant_cycles_run(now=datetime(2026, 3, 2, tzinfo=UTC))
    tenant.refresh_from_db()
    assert tenant.billing_profile_id != flat.id and tenant.billed_through == date(2026, 3, 1)


def test_a_free_trial_converts_when_it_runs_out(api, admin, partner):
    paid = _profile(api, name="Paid Starter", pricing_model="FLAT_RATE", base_fee="99")
    trial = _profile(api, **FREE_TRIAL, converts_to_id=paid["id"])
    tenant = make_tenant(admin, billing_profile_id=trial["id"])
    tenant.refresh_from_db()
    assert tenant.billing_profile_expires_at == tenant.billing_profile_since + timedelta(days=30)
    expires = tenant.billing_profile_expires_at
    tenant_cycles_run(now=expires - timedelta(seconds=1))
    tenant.refresh_from_db()
    assert tenant.billing_profile_id == trial["id"]
    tenant_cycles_run(now=expires + timedelta(minutes=30))
    tenant.refresh_from_db()
    assert tenant.billing_profile_id == paid["id"]
    assert tenant.billing_profile_since == expires
    assert tenant.billing_profile_expires_at is None


def test_tenant_billing_over_the_api(api, admin, partner):
    tenant = make_tenant(admin)
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    jurisdiction = api.post(
        "/v1/tax-jurisdictions",
        {"name": "Pulaski County", "code": "US-AR-Pulaski", "rate": "0.085"},
    ).json()
    response = api.put(
        f"/v1/tenants/{tenant.id}/billing",
        {"billing_profile_id": flat.id, "tax_jurisdiction_id": jurisdiction["id"]},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["pending_billing_profile_id"] == flat.id
    assert body["pending_billing_profile_from"] == body["cycle_end"]
    assert body["tax_jurisdiction_id"] == jurisdiction["id"]
    cleared = api.put(f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": None})
    assert cleared.json()["tax_jurisdiction_id"] is None
    assert cleared.json()["pending_billing_profile_id"] == flat.id


def test_tenant_billing_refuses_foreign_and_bad_ids(api, admin, partner):
    tenant = make_tenant(admin)
    other, other_admin = make_partner()
    foreign_tenant = make_tenant(other_admin)
    foreign_profile = BillingProfile.objects.filter(partner=other).first()
    payg = BillingProfile.objects.get(partner=partner, is_default=True)
    cases = [
        (f"/v1/tenants/{foreign_tenant.id}/billing", {"billing_profile_id": payg.id}, 404),
        (f"/v1/tenants/{tenant.id}/billing", {"billing_profile_id": foreign_profile.id}, 404),
        (f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": "txj_nope"}, 404),
        (f"/v1/tenants/{tenant.id}/billing", {"billing_profile_id": None}, 422),
        (f"/v1/tenants/{tenant.id}/billing", {"billing_profile_id": 7}, 422),
        (f"/v1/tenants/{tenant.id}/billing", {"plan": "gold"}, 422),
    ]
    for path, body, status in cases:
        response = api.put(path, body)
        assert response.status_code == status, (body, response.json())
        assert set(response.json()["error"]) == {"type", "message", "field"}
    tenant.refresh_from_db()
    assert tenant.billing_profile_id == payg.id and tenant.pending_billing_profile_id is None
    assert api.get(f"/v1/tenants/{foreign_tenant.id}/billing").status_code == 404


def test_a_tenant_limited_key_sees_only_its_tenants_billing(make_api, partner, admin):
    mine, theirs = make_tenant(admin), make_tenant(admin)
    limited = make_api(make_api_key(partner, tenant_ids=[mine.id]))
    assert limited.get(f"/v1/tenants/{mine.id}/billing").status_code == 200
    assert limited.get(f"/v1/tenants/{theirs.id}/billing").status_code == 404


# --- tax jurisdictions ---------------------------------------------------------------------


def test_jurisdictions_create_edit_toggle_and_delete(api, partner, admin):
    made = api.post(
        "/v1/tax-jurisdictions", {"name": "Ontario HST", "code": "CA-ON", "rate": "0.13"}
    )
    assert made.status_code == 201
    body = made.json()
    assert (body["code"], body["rate"], body["enabled"]) == ("CA-ON", "0.13", True)
    off = api.patch(f"/v1/tax-jurisdictions/{body['id']}", {"enabled": False})
    assert off.json()["enabled"] is False
    tenant = make_tenant(admin)
    api.put(f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": body["id"]})
    in_use = api.delete(f"/v1/tax-jurisdictions/{body['id']}")
    assert in_use.status_code == 409 and in_use.json()["error"]["type"] == "in_use"
    api.put(f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": None})
    assert api.delete(f"/v1/tax-jurisdictions/{body['id']}").status_code == 204
    assert not TaxJurisdiction.objects.filter(id=body["id"]).exists()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "X", "code": "Pulaski", "rate": "0.05"}, "code"),
        ({"name": "X", "code": "us-ar", "rate": "0.05"}, "code"),
        ({"name": "X", "code": "US-AR", "rate": "8.5"}, "rate"),
        ({"name": "X", "code": "US-AR", "rate": "-0.01"}, "rate"),
        ({"name": "X", "code": "US-AR", "rate": "0.0850001"}, "rate"),
        ({"name": "X", "code": "US-AR", "rate": "NaN"}, "rate"),
        ({"name": "X", "code": "US-AR", "rate": "abc"}, "rate"),
        ({"name": " ", "code": "US-AR", "rate": "0.05"}, "name"),
        ({"name": "X", "code": "US-AR", "rate": "0.05", "compound": True}, None),
    ],
)
def test_bad_jurisdictions_are_refused(api, fields, field):
    response = api.post("/v1/tax-jurisdictions", fields)
    assert response.status_code in (400, 422)
    if field is not None:
        assert response.json()["error"]["field"] == field
    assert not TaxJurisdiction.objects.exists()


def test_jurisdiction_codes_are_unique_per_partner_and_private(api, partner):
    spec = {"name": "Pulaski", "code": "US-AR-Pulaski", "rate": "0.085"}
    first = api.post("/v1/tax-jurisdictions", spec).json()
    again = api.post("/v1/tax-jurisdictions", spec)
    assert again.status_code == 409 and again.json()["error"]["type"] == "code_taken"
    other, _ = make_partner()
    other_api = ApiClient(api.client, make_api_key(other))
    assert other_api.post("/v1/tax-jurisdictions", spec).status_code == 201
    assert other_api.get(f"/v1/tax-jurisdictions/{first['id']}").status_code == 404
    assert other_api.patch(f"/v1/tax-jurisdictions/{first['id']}", {"rate": "0"}).status_code == 404
    assert str(TaxJurisdiction.objects.get(id=first["id"]).rate.normalize()) == "0.085"


def test_new_partners_profiles_are_made_once(partner):
    assert profiles.billing_profiles_create_defaults(partner) == []
    assert BillingProfile.objects.filter(partner=partner).count() == 2


def _actor(user):
    from tests.factories import actor_for_user

    return actor_for_user(user)


def test_default_suspension_after(api, partner, make_api):
    assert api.get("/v1/billing-settings").json() == {"suspension_after_days": 14}
    changed = api.put("/v1/billing-settings", {"suspension_after_days": 21})
    assert changed.json() == {"suspension_after_days": 21}
    for bad in (0, 366, "soon", None):
        refused = api.put("/v1/billing-settings", {"suspension_after_days": bad})
        assert refused.status_code == 422, bad
    read_only = make_api(make_api_key(partner, scopes="billing:read"))
    assert read_only.put("/v1/billing-settings", {"suspension_after_days": 3}).status_code == 403
    partner.refresh_from_db()
    assert partner.suspension_after_days == 21
